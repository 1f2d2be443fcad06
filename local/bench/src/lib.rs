//! The benchmarks' shared parts: the generated cost table ([`costs`]), the
//! AWS prices it is priced with ([`prices`]), and the model of one big
//! channel ([`ceiling`]). The binaries are `chat-bench` (load, fan-out,
//! blocklist, costs, ceiling) and `chat-coldstart`.

pub mod ceiling;
pub mod costs;
pub mod prices;
