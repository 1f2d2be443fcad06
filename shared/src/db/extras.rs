//! SDK interceptors the DynamoDB client goes without, each a few hundred
//! nanoseconds to microseconds of every request's CPU for nothing this
//! service uses:
//!
//! - the user agent: a header built for AWS's statistics of SDK use;
//! - the clock-skew tracker: it reads every answer's `Date` to correct the
//!   signing time after a skew error, and a Lambda environment's clock is
//!   kept in time by the platform.
//!
//! The SDK's own switch turns them off ([`disable_interceptor`], which it
//! uses itself to presign requests); requests are signed, retried and
//! answered as before. The invocation id, which ties a request's retries
//! together, stays (the DynamoDB tap's fault injection counts by it).

use aws_runtime::service_clock_skew::ServiceClockSkewInterceptor;
use aws_runtime::user_agent::UserAgentInterceptor;
use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::interceptors::disable_interceptor;

/// Disables the interceptors above for each request, before they run.
#[derive(Debug)]
pub(super) struct WithoutExtras;

const WHY: &str = "not used by this service (shared/src/db/extras.rs)";

impl Intercept for WithoutExtras {
    fn name(&self) -> &'static str {
        "WithoutExtras"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let state = cfg.interceptor_state();
        state.store_put(disable_interceptor::<UserAgentInterceptor>(WHY));
        state.store_put(disable_interceptor::<ServiceClockSkewInterceptor>(WHY));
        Ok(())
    }
}
