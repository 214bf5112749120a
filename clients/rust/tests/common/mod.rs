//! What the integration tests share: the settings the pytest wrapper
//! (tests/server/test_rust_client.py) passes, and unique scope ids.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A setting of the pytest wrapper; a clear failure when the tests are run without it.
pub fn setting(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{} is not set: run these tests through the pytest wrapper (`.venv/bin/pytest \
             tests/server/test_rust_client.py` from the repository root), which starts a `mem7 serve` on \
             loopback and the loopback OpenAI-compatible server, and sets RUST_CLIENT_TEST_URL, RUST_CLIENT_TEST_TOKEN, \
             RUST_CLIENT_TEST_ALICE_TOKEN, RUST_CLIENT_TEST_OPENAI_URL, MEM7_BIN and MEM7_DATA_DIR",
            name
        ),
    }
}

/// A scope id no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{}-{}-{}-{}", prefix, std::process::id(), nanos, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Whether a process with this id exists (Linux: its /proc entry; a reaped child has none).
pub fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{}", pid)).exists()
}
