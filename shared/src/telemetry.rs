//! Logging set-up: JSON lines in Lambda (CloudWatch parses them), readable text
//! on a terminal. `RUST_LOG` filters either.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if in_lambda {
        builder
            .json()
            .with_current_span(false)
            .without_time() // CloudWatch stamps each line itself.
            .with_target(false)
            .try_init()
    } else {
        builder.with_target(false).try_init()
    };
    // A subscriber may already be set (tests); that is fine.
    drop(result);
}
