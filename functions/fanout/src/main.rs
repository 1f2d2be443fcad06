//! Lambda for large fan-outs: the table's stream brings each fan-out job
//! (only those pass the event source's filter), and the events are posted
//! through the WebSocket API's management API.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use chat_shared::realtime::fanout;
use chat_shared::{telemetry, AppState};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // Only the clients this function uses are built (and linked).
    let state = AppState::for_lambda().await?.with_notifier();
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<DynamoDbEventResponse, Error>(fanout::handle(state, event.payload).await)
    }))
    .await
}
