//! What an operation costs on AWS: AWS's published on-demand prices
//! (us-east-1, arm64, no free tier) as named constants, and the model that
//! turns what the cost table measured (requests, capacity units, posts,
//! invocations) into dollars.

const MILLION: f64 = 1_000_000.0;

/// When the prices below were read from AWS's pricing pages
/// (aws.amazon.com/lambda/pricing, /dynamodb/pricing/on-demand,
/// /api-gateway/pricing).
pub const READ_ON: &str = "2026-12-05";

/// Lambda on arm64, per GB-second of billed duration (the first 7.5 billion
/// GB-seconds of a month).
pub const LAMBDA_ARM64_GB_SECOND: f64 = 0.000_013_333_4;
/// Lambda, per invocation.
pub const LAMBDA_REQUEST: f64 = 0.20 / MILLION;
/// DynamoDB on demand, per read request unit (what the table reports as RCU).
pub const DYNAMODB_READ_UNIT: f64 = 0.125 / MILLION;
/// DynamoDB on demand, per write request unit (what the table reports as WCU).
pub const DYNAMODB_WRITE_UNIT: f64 = 0.625 / MILLION;
/// API Gateway WebSocket API, per message sent or received, metered in
/// 32 KB units (the first billion of a month).
pub const WEBSOCKET_MESSAGE: f64 = 1.00 / MILLION;
/// API Gateway WebSocket API, per connection minute.
pub const WEBSOCKET_CONNECTION_MINUTE: f64 = 0.25 / MILLION;
/// API Gateway REST API, per request (the first 333 million of a month).
pub const REST_REQUEST: f64 = 3.50 / MILLION;
/// SQS standard queue, per request of up to 64 KB (the first 100 billion
/// of a month; aws.amazon.com/sqs/pricing).
pub const SQS_REQUEST: f64 = 0.40 / MILLION;
/// When the SQS price was read.
pub const SQS_READ_ON: &str = "2026-12-06";

/// The functions' memory (`MemorySize: 256` in the template's globals).
pub const LAMBDA_MEMORY_GB: f64 = 0.25;
/// Billed duration, assumed: a DynamoDB request's round trip inside the
/// region, with a use case's requests taken one after another.
pub const DYNAMODB_ROUND_TRIP_MS: f64 = 5.0;
/// Billed duration, measured: the functions' CPU per delivered message in
/// the faithful benchmark (docs/benchmarks.md); posts overlap their waits.
pub const CPU_MS_PER_POST: f64 = 0.19;
/// Billed duration, assumed: each invocation's own work and Lambda's
/// rounding up to the next millisecond.
pub const MS_PER_INVOCATION: f64 = 1.0;

/// What one operation used, as the cost table counts it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Requests to the REST API.
    pub rest_requests: u64,
    /// Frames clients sent on their sockets.
    pub socket_messages: u64,
    /// Management-API posts: messages sent to clients.
    pub posts: u64,
    /// `$default` route responses (acks): messages sent back to a frame's
    /// client by API Gateway itself, in the frame's invocation.
    pub replies: u64,
    /// Function invocations (REST, WebSocket routes, stream batches).
    pub invocations: u64,
    pub dynamodb_requests: u64,
    pub read_units: f64,
    pub write_units: f64,
    /// SQS requests: the functions' sends, the event source's receives and
    /// deletes.
    pub sqs_requests: u64,
    /// The functions' own SQS requests (sends), waited for like DynamoDB's.
    pub sqs_sends: u64,
}

/// An operation's price, by service, in dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bill {
    pub dynamodb: f64,
    pub api_gateway: f64,
    pub lambda: f64,
    pub sqs: f64,
}

impl Bill {
    pub fn total(&self) -> f64 {
        self.dynamodb + self.api_gateway + self.lambda + self.sqs
    }

    pub fn plus(&self, other: &Bill) -> Bill {
        Bill {
            dynamodb: self.dynamodb + other.dynamodb,
            api_gateway: self.api_gateway + other.api_gateway,
            lambda: self.lambda + other.lambda,
            sqs: self.sqs + other.sqs,
        }
    }

    pub fn times(&self, n: f64) -> Bill {
        Bill {
            dynamodb: self.dynamodb * n,
            api_gateway: self.api_gateway * n,
            lambda: self.lambda * n,
            sqs: self.sqs * n,
        }
    }
}

impl Usage {
    /// Billed milliseconds of function time, by the assumptions above.
    pub fn billed_ms(&self) -> f64 {
        self.invocations as f64 * MS_PER_INVOCATION
            + (self.dynamodb_requests + self.sqs_sends) as f64 * DYNAMODB_ROUND_TRIP_MS
            + self.posts as f64 * CPU_MS_PER_POST
    }

    pub fn bill(&self) -> Bill {
        let gb_seconds = self.billed_ms() / 1000.0 * LAMBDA_MEMORY_GB;
        Bill {
            dynamodb: self.read_units * DYNAMODB_READ_UNIT + self.write_units * DYNAMODB_WRITE_UNIT,
            api_gateway: self.rest_requests as f64 * REST_REQUEST
                + (self.socket_messages + self.posts + self.replies) as f64 * WEBSOCKET_MESSAGE,
            lambda: self.invocations as f64 * LAMBDA_REQUEST + gb_seconds * LAMBDA_ARM64_GB_SECOND,
            sqs: self.sqs_requests as f64 * SQS_REQUEST,
        }
    }
}

/// The paragraph of assumptions printed beside the table.
pub fn assumptions() -> String {
    format!(
        "\"$ per million\" is the price of a million of the row's operation on AWS \
         in us-east-1 with on-demand prices read on {READ_ON} (no free tier): \
         DynamoDB ${:.3} per million read and ${:.3} per million write request units \
         (the RCU and WCU columns); API Gateway ${:.2} per million REST requests and \
         ${:.2} per million WebSocket messages, counting each frame a client sends, \
         each management post and each route response (one 32 KB unit each; a connect or disconnect is taken as no \
         message); Lambda on arm64 at {} MB, ${:.2} per million invocations and \
         ${:.10} per GB-second; SQS ${:.2} per million requests (standard queue, \
         read on {SQS_READ_ON}), counting the functions' sends and the event source's \
         receives and deletes but not its idle long polls (about 650,000 a month, \
         $0.26, whatever the traffic). Billed duration is modelled, not timed: \
         {MS_PER_INVOCATION} ms per invocation, {DYNAMODB_ROUND_TRIP_MS} ms per \
         DynamoDB or SQS request taken one after another, and {CPU_MS_PER_POST} ms of \
         CPU per post (the functions' CPU per delivery in the faithful benchmark). \
         Storage, data transfer and logs are not included.",
        DYNAMODB_READ_UNIT * MILLION,
        DYNAMODB_WRITE_UNIT * MILLION,
        REST_REQUEST * MILLION,
        WEBSOCKET_MESSAGE * MILLION,
        LAMBDA_MEMORY_GB * 1024.0,
        LAMBDA_REQUEST * MILLION,
        LAMBDA_ARM64_GB_SECOND,
        SQS_REQUEST * MILLION,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_send_is_priced_by_service() {
        // 26 RCU, 10 WCU, 1 frame in, 10 posts, the ack, 1 invocation, 4
        // requests.
        let usage = Usage {
            socket_messages: 1,
            posts: 10,
            replies: 1,
            invocations: 1,
            dynamodb_requests: 4,
            read_units: 26.0,
            write_units: 10.0,
            ..Usage::default()
        };
        let bill = usage.bill().times(MILLION);
        assert!((bill.dynamodb - (26.0 * 0.125 + 10.0 * 0.625)).abs() < 1e-9);
        assert!((bill.api_gateway - 12.0).abs() < 1e-9);
        // 1 + 4 × 5 + 10 × 0.19 = 22.9 ms at a quarter GB: the ack is sent
        // by API Gateway, not by the function.
        let compute = 22.9 / 1000.0 * 0.25 * 0.000_013_333_4 * MILLION;
        assert!((bill.lambda - (0.20 + compute)).abs() < 1e-9);
    }

    #[test]
    fn a_rest_request_pays_the_rest_api() {
        let usage = Usage {
            rest_requests: 1,
            invocations: 1,
            ..Usage::default()
        };
        let bill = usage.bill().times(MILLION);
        assert!((bill.api_gateway - 3.5).abs() < 1e-9);
        assert_eq!(bill.dynamodb, 0.0);
    }
}
