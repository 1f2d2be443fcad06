//! The client's endpoint, resolved once for each set of parameters.
//!
//! The SDK's resolver evaluates DynamoDB's endpoint rules and keeps the last
//! answer only; the parameters differ by operation (a query names its
//! table, a batch read a list of tables, a transaction none), so a send's
//! three requests evaluated the rules three times. The rules are a function
//! of the parameters, so remembering each answer changes no endpoint.

use std::sync::Mutex;

use aws_sdk_dynamodb::config::endpoint::{
    DefaultResolver, Endpoint, EndpointFuture, Params, ResolveEndpoint,
};
use futures::FutureExt;

/// Distinct parameter sets remembered: the operations times the tables,
/// with room to spare. Past it, the rules are evaluated each time.
const REMEMBERED: usize = 32;

/// The SDK's own resolver, its answers remembered by parameters.
#[derive(Debug, Default)]
pub(super) struct Remembered {
    rules: DefaultResolver,
    known: Mutex<Vec<(Params, Endpoint)>>,
}

impl ResolveEndpoint for Remembered {
    fn resolve_endpoint<'a>(&'a self, params: &'a Params) -> EndpointFuture<'a> {
        let mut known = self
            .known
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some((_, endpoint)) = known.iter().find(|(p, _)| p == params) {
            return EndpointFuture::ready(Ok(endpoint.clone()));
        }
        // The rules answer at once; were they ever to wait, ask them again
        // and hand that answer on unremembered.
        let Some(answer) = self.rules.resolve_endpoint(params).now_or_never() else {
            return self.rules.resolve_endpoint(params);
        };
        if let Ok(endpoint) = &answer {
            if known.len() < REMEMBERED {
                known.push((params.clone(), endpoint.clone()));
            }
        }
        EndpointFuture::ready(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(region: &str, endpoint: Option<&str>, table: Option<&str>) -> Params {
        Params::builder()
            .region(region)
            .set_endpoint(endpoint.map(str::to_owned))
            .set_resource_arn(table.map(str::to_owned))
            .build()
            .unwrap()
    }

    fn url(resolver: &Remembered, params: &Params) -> String {
        resolver
            .resolve_endpoint(params)
            .now_or_never()
            .expect("ready")
            .expect("resolved")
            .url()
            .to_owned()
    }

    #[test]
    fn each_set_of_parameters_gets_the_endpoint_the_rules_give_it() {
        let resolver = Remembered::default();
        let local = params("us-east-1", Some("http://127.0.0.1:4566"), Some("chat"));
        let east = params("us-east-1", None, Some("chat"));
        let west = params("eu-west-1", None, None);
        for _ in 0..2 {
            assert_eq!(url(&resolver, &local), "http://127.0.0.1:4566");
            assert_eq!(
                url(&resolver, &east),
                "https://dynamodb.us-east-1.amazonaws.com"
            );
            assert_eq!(
                url(&resolver, &west),
                "https://dynamodb.eu-west-1.amazonaws.com"
            );
        }
        assert_eq!(resolver.known.lock().unwrap().len(), 3);
    }

    #[test]
    fn a_failed_resolution_is_not_remembered() {
        let resolver = Remembered::default();
        let fips_override = Params::builder()
            .region("us-east-1")
            .use_fips(true)
            .endpoint("http://127.0.0.1:4566")
            .build()
            .unwrap();
        assert!(resolver
            .resolve_endpoint(&fips_override)
            .now_or_never()
            .expect("ready")
            .is_err());
        assert!(resolver.known.lock().unwrap().is_empty());
    }
}
