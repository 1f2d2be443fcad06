//! What the outbox stream's background functions share: the job a record
//! brings, and the batch's answer to the event source (the records whose
//! job failed as a whole, to be run again).

use aws_lambda_events::event::dynamodb::EventRecord;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, DisplayChain};

/// The job a record brings, if it is the insert of one; an unreadable job
/// is logged and skipped (running it again would not help).
pub fn inserted<T: crate::db::Entity + DeserializeOwned>(record: &EventRecord) -> Option<T> {
    if record.event_name != "INSERT" {
        return None;
    }
    match crate::db::from_image::<T>(&record.change.new_image)? {
        Ok(job) => Some(job),
        Err(err) => {
            tracing::warn!(error = %err, "unreadable job skipped");
            None
        }
    }
}

/// The key a record's item has (`pk`).
pub fn pk(record: &EventRecord) -> Option<&str> {
    match record.change.keys.get("pk")? {
        serde_dynamo::AttributeValue::S(s) => Some(s.as_str()),
        _ => None,
    }
}

/// The answer for a batch: each failed job's sequence number.
pub fn answer(
    results: impl IntoIterator<Item = (Option<String>, Result<(), ApiError>)>,
) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for (sequence, result) in results {
        if let Err(err) = result {
            tracing::warn!(error = %DisplayChain(&err), "job failed; the event source will run it again");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = sequence;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
