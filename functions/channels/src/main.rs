//! Lambda for `/api/v1/channels...`: channels, members and moderation.

use chat_shared::{http, telemetry, AppState};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    // Only the clients this function uses are built (and linked).
    let state = AppState::for_lambda().await?.with_notifier();
    lambda_http::run(http::channels::router(state)).await
}
