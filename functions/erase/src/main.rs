//! Lambda for erasing users (`DELETE /users/{id}`): the outbox stream brings
//! each slice's job (only those pass the event source's filter). It is the
//! one background function that writes the table's users, messages and
//! memberships, so the others need not.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use chat_shared::{erasure, telemetry, AppState};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // The table only: an erasure posts nothing and calls no one.
    let state = AppState::for_lambda().await?;
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<DynamoDbEventResponse, Error>(erasure::handle(state, event.payload).await)
    }))
    .await
}
