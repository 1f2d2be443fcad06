//! Lambda for `/api/v1/channels...`: channels, members and moderation.

use chat_shared::{http, telemetry, AppState};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let state = AppState::for_lambda().await?;
    lambda_http::run(http::channels::router(state)).await
}
