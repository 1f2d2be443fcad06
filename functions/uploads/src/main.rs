//! Lambda for `/api/v1/upload...`: presigned S3 URLs and small uploads.

use chat_shared::{http, telemetry, AppState};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    // Only the clients this function uses are built (and linked).
    let state = AppState::for_lambda().await?.with_storage();
    lambda_http::run(http::uploads::router(state)).await
}
