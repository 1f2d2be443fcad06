//! Lambda for `/api/v1/channels...`: channels, members and moderation.

use chat_shared::{http, telemetry, AppState, Config};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let state = AppState::connect(Config::from_env()?).await;
    state.db.prewarm().await;
    lambda_http::run(http::channels::router(state)).await
}
