//! Lambda for what reaches outside the service: the outbox stream brings
//! each webhook and push job (only those pass the event source's filters);
//! webhooks are posted to the app's receiver (retried, or dead-lettered),
//! pushes go to the offline members' devices through FCM and APNs.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use chat_shared::{notify, telemetry, AppState};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // Only the clients this function uses are built (and linked).
    let state = AppState::for_lambda().await?.with_outbound();
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<DynamoDbEventResponse, Error>(notify::handle(state, event.payload).await)
    }))
    .await
}
