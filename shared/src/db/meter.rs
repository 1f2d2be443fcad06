//! What the table costs, measured on the SDK client itself: requests per
//! operation (every attempt it transmits, retries included) and the capacity
//! units DynamoDB reports for them. An interceptor asks every data operation
//! for `ReturnConsumedCapacity: TOTAL` and adds up the answers, so the
//! figures come from the service (or the emulator), not from an estimate.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};

/// Requests and consumed capacity units of one operation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OpCost {
    pub requests: u64,
    pub capacity_units: f64,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Meter(Arc<Mutex<BTreeMap<String, OpCost>>>);

impl Meter {
    pub(super) fn snapshot(&self) -> BTreeMap<String, OpCost> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn add(&self, operation: &str, requests: u64, units: f64) {
        if let Ok(mut costs) = self.0.lock() {
            let cost = costs.entry(operation.to_string()).or_default();
            cost.requests += requests;
            cost.capacity_units += units;
        }
    }
}

fn units<'a>(reported: impl IntoIterator<Item = &'a ConsumedCapacity>) -> f64 {
    reported
        .into_iter()
        .filter_map(ConsumedCapacity::capacity_units)
        .sum()
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "Meter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::*;
        let input = context.input_mut();
        let total = Some(ReturnConsumedCapacity::Total);
        if let Some(i) = input.downcast_mut::<get_item::GetItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<batch_get_item::BatchGetItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<put_item::PutItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<delete_item::DeleteItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<update_item::UpdateItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<query::QueryInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<batch_write_item::BatchWriteItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) =
            input.downcast_mut::<transact_write_items::TransactWriteItemsInput>()
        {
            i.return_consumed_capacity = total;
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown");
        self.add(operation, 1, 0.0);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::*;
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let charged = if let Some(o) = output.downcast_ref::<get_item::GetItemOutput>() {
            Some(("GetItem", units(o.consumed_capacity())))
        } else if let Some(o) = output.downcast_ref::<batch_get_item::BatchGetItemOutput>() {
            Some(("BatchGetItem", units(o.consumed_capacity())))
        } else if let Some(o) = output.downcast_ref::<put_item::PutItemOutput>() {
            Some(("PutItem", units(o.consumed_capacity())))
        } else if let Some(o) = output.downcast_ref::<delete_item::DeleteItemOutput>() {
            Some(("DeleteItem", units(o.consumed_capacity())))
        } else if let Some(o) = output.downcast_ref::<update_item::UpdateItemOutput>() {
            Some(("UpdateItem", units(o.consumed_capacity())))
        } else if let Some(o) = output.downcast_ref::<query::QueryOutput>() {
            Some(("Query", units(o.consumed_capacity())))
        } else if let Some(o) = output.downcast_ref::<batch_write_item::BatchWriteItemOutput>() {
            Some(("BatchWriteItem", units(o.consumed_capacity())))
        } else {
            output
                .downcast_ref::<transact_write_items::TransactWriteItemsOutput>()
                .map(|o| ("TransactWriteItems", units(o.consumed_capacity())))
        };
        if let Some((operation, units)) = charged {
            self.add(operation, 0, units);
        }
        Ok(())
    }
}
