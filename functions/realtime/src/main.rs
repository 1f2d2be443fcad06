//! Lambda for the WebSocket API: `$connect`, `$disconnect`, `$default`, and
//! the `$connect` route's authorizer.

use chat_shared::socket as handler;
use chat_shared::{telemetry, AppState};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // Only the clients this function uses are built (and linked).
    let state = AppState::for_lambda()
        .await?
        .with_notifier()
        .with_storage()
        .with_outbound()
        .with_scheduler();
    let state = &state;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<handler::Event>| async move {
            handler::answer(state, event.payload)
                .await
                .map_err(Error::from)
        },
    ))
    .await
}
