//! Lambda for `/api/v1/messages...`, `/api/v1/channels/{id}/messages`,
//! `/api/v1/channels/{id}/pinned`, `/api/v1/search`, `/api/v1/reminders`,
//! `/api/v1/threads` and `/api/v1/polls`.

use chat_shared::{http, telemetry, AppState};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    // Only the clients this function uses are built (and linked).
    let state = AppState::for_lambda()
        .await?
        .with_notifier()
        .with_storage()
        .with_outbound()
        .with_scheduler();
    lambda_http::run(http::messages::router(state)).await
}
