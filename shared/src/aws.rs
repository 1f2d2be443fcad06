//! The AWS SDK configuration every client is built from, loaded once.

use crate::config::Config;

/// Region and credentials from config or the SDK's default chain (env,
/// profile, container or instance role). Endpoints are set per client.
pub async fn sdk_config(config: &Config) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &config.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if config.static_credentials {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            "local", "local", None, None, "static",
        ));
    }
    loader.load().await
}
