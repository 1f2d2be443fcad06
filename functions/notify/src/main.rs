//! Lambda for what reaches outside the service: the outbox stream brings
//! each webhook job (only those pass the event source's filter), and each is
//! posted to the app's webhook, retried or dead-lettered.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use chat_shared::{telemetry, webhooks, AppState};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // Only the clients this function uses are built (and linked).
    let state = AppState::for_lambda().await?.with_outbound()?;
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<DynamoDbEventResponse, Error>(webhooks::handle(state, event.payload).await)
    }))
    .await
}
