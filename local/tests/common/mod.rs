//! Helpers shared by the local crate's integration tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// A fresh folder path under the system temp dir (not created).
pub fn temp_dir(prefix: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()))
}

/// Sends the request and reads its JSON body (panics on a transport error).
pub async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// A `chat-local` process on free ports; killed and reaped when dropped.
pub struct Server {
    pub child: Child,
    /// What it wrote to `dev.env`.
    pub env: HashMap<String, String>,
}

impl Drop for Server {
    /// A failed test still stops its server.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `chat-local` on free ports over `dir`, with extra environment
    /// variables, and waits for its `dev.env`.
    // The child is killed and reaped by `Server`'s drop (or the timeout's panic
    // ends the test process).
    #[allow(clippy::zombie_processes)]
    pub async fn start(dir: &Path, vars: &[(&str, &str)]) -> Server {
        let env_file = dir.join("dev.env");
        let _ = std::fs::remove_file(&env_file);
        let child = Command::new(env!("CARGO_BIN_EXE_chat-local"))
            .args(["--data-dir", dir.to_str().unwrap()])
            .args(["--port", "0", "--dynamodb-port", "0", "--ws-port", "0"])
            .args(["--s3-port", "0"])
            .env("RUST_LOG", "error")
            .envs(vars.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chat-local starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&env_file) {
                if text.contains("CHAT_DYNAMODB_ENDPOINT=") {
                    let env = text
                        .lines()
                        .filter_map(|l| l.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    return Server { child, env };
                }
            }
            assert!(Instant::now() < deadline, "chat-local did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn request(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        token: &str,
    ) -> reqwest::RequestBuilder {
        http.request(method, format!("{}{path}", self.env["CHAT_URL"]))
            .header("X-Api-Key", &self.env["CHAT_API_KEY"])
            .header("Authorization", format!("Bearer {}", self.env[token]))
    }
}
