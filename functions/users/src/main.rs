//! Lambda for `/api/v1/users...`, `/api/v1/devices...` and `/api/v1/health`.

use chat_shared::{http, telemetry, AppState, Config};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let state = AppState::connect(Config::from_env()?).await;
    state.db.prewarm().await;
    lambda_http::run(http::users::router(state)).await
}
