//! Lambda for `/api/v1/messages...`, `/api/v1/channels/{id}/messages`,
//! `/api/v1/channels/{id}/pinned` and `/api/v1/search`.

use chat_shared::{http, telemetry, AppState, Config};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let state = AppState::connect(Config::from_env()?).await;
    state.db.prewarm().await;
    lambda_http::run(http::messages::router(state)).await
}
