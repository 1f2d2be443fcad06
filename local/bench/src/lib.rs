//! The benchmarks' shared parts: the generated cost table ([`costs`]) and
//! the AWS prices it is priced with ([`prices`]). The binaries are
//! `chat-bench` (load, fan-out, blocklist, costs) and `chat-coldstart`.

pub mod costs;
pub mod prices;
