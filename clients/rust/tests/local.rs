//! The engine starting its own `mem7 serve` from a config (`$MEM7_BIN`, set by the pytest
//! wrapper), as the original's `MemoryEngine::new(config)`: it waits until the server listens,
//! talks to it with its own random token, and stops it on drop or `close()` leaving no process.
//! The quick start's LLM and embedder are the loopback OpenAI-compatible server of the wrapper
//! (`RUST_CLIENT_TEST_OPENAI_URL`). One server at a time: the tests take `SERIAL`.

// Each test holds SERIAL for its whole body, on a runtime of its own: nothing else awaits it.
#![allow(clippy::await_holding_lock)]

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::{process_exists, setting, unique};
use mem7::{ChatMessage, EmbeddingConfig, LlmConfig, LocalConfig, Mem7Error, MemoryEngine, MemoryEngineConfig};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The embedded default on the hash embedder, in a data directory of its own.
fn hash_config() -> (LocalConfig, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(unique("mem7-rust-local"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = LocalConfig::embedded_default()
        .with_data_dir(&dir)
        .with_env("MEM7_EMBEDDER__PROVIDER", "hash")
        .with_env("MEM7_USER_ID", "default-user");
    (config, dir)
}

/// Config files the engine wrote for its servers (it removes each once its server is up).
fn config_files_left() -> Vec<String> {
    let prefix = format!("mem7-engine-{}-", std::process::id());
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&prefix))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_quick_start_runs_and_drop_stops_the_server() {
    let _one = serial();
    let loopback = setting("RUST_CLIENT_TEST_OPENAI_URL");
    setting("MEM7_DATA_DIR"); // the wrapper's temporary directory, inherited by the server

    // ---- the original's quick start, its URLs pointed at the loopback server
    let config = MemoryEngineConfig {
        llm: LlmConfig {
            base_url: loopback.clone(),
            api_key: "ollama".into(),
            model: "qwen2.5:7b".into(),
            ..Default::default()
        },
        embedding: EmbeddingConfig {
            base_url: loopback.clone(),
            api_key: "ollama".into(),
            model: "mxbai-embed-large".into(),
            dims: 1024,
            ..Default::default()
        },
        ..Default::default()
    };
    let engine = MemoryEngine::new(config).await.unwrap();

    let messages = vec![ChatMessage {
        role: "user".into(),
        content: "I love playing tennis and my coach is Sarah.".into(),
        images: vec![],
    }];
    let added = engine.add(&messages, Some("alice"), None, None, None, true).await.unwrap();
    let results = engine
        .search("What sports does Alice play?", Some("alice"), None, None, 5, None, true, None, None)
        .await
        .unwrap();
    // ---- end of the quick start

    assert!(!added.results.is_empty(), "the LLM extracted facts: {:?}", added);
    assert!(added.results.iter().all(|r| r.action == mem7::MemoryAction::Add), "{:?}", added);
    assert!(!results.memories.is_empty() && results.memories.len() <= 5, "{:?}", results);
    let tennis = results
        .memories
        .iter()
        .find(|m| m.text.to_lowercase().contains("tennis"))
        .unwrap_or_else(|| panic!("no tennis memory in {:?}", results.memories));
    assert_eq!(tennis.user_id.as_deref(), Some("alice"));
    assert!(tennis.score.is_some());
    assert!(tennis.memory_type.is_some(), "LLM-extracted memories are typed: {:?}", tennis);
    assert!(config_files_left().is_empty(), "the config (API keys) is removed once read: {:?}", config_files_left());

    let pid = engine.server_pid().expect("the engine owns its server");
    assert!(process_exists(pid));
    assert!(engine.base_url().starts_with("http://127.0.0.1:"), "{}", engine.base_url());
    drop(engine);
    assert!(!process_exists(pid), "the server {} outlived its engine", pid);
}

#[tokio::test]
async fn close_stops_the_server_gracefully_and_the_token_guards_it() {
    let _one = serial();
    let (config, dir) = hash_config();
    let engine = MemoryEngine::new(config).await.unwrap();
    let pid = engine.server_pid().unwrap();
    assert!(process_exists(pid));
    assert_eq!(engine.health().await.unwrap().status, "ok");

    let user = unique("local");
    engine.add(&[ChatMessage::user("I keep bees in Porto")], Some(&user), None, None, None, false).await.unwrap();
    let found = engine.search("bees", Some(&user), None, None, 5, None, true, None, None).await.unwrap();
    assert_eq!(found.memories[0].text, "I keep bees in Porto");

    // The server accepts only this engine's random token.
    let anonymous = reqwest::Client::builder().no_proxy().build().unwrap();
    let status =
        anonymous.get(format!("{}/memories?user_id={}", engine.base_url(), user)).send().await.unwrap().status();
    assert_eq!(status.as_u16(), 401);

    // The engine's token is unrestricted: reset works and wipes everything.
    engine.reset().await.unwrap();
    assert!(engine.get_all(Some(&user), None, None, None, None).await.unwrap().is_empty());

    assert_eq!(engine.close().await.unwrap(), Some(0), "SIGTERM: a graceful stop, exit code 0");
    assert!(!process_exists(pid));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_dead_server_is_a_connection_error_naming_its_exit() {
    let _one = serial();
    let (config, dir) = hash_config();
    let engine = MemoryEngine::new(config).await.unwrap();
    let pid = engine.server_pid().unwrap();
    let killed = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    let mut err = None;
    for _ in 0..100 {
        match engine.get_all(Some("x"), None, None, None, None).await {
            Err(e @ Mem7Error::Connection { .. }) if e.to_string().contains("exited") => {
                err = Some(e);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let err = err.expect("requests fail once the server is dead");
    let text = err.to_string();
    assert!(text.contains(&format!("mem7 serve (pid {}) exited (killed by signal 9)", pid)), "{}", text);
    assert!(err.is_retryable());
    drop(engine); // nothing left to stop: returns at once
    assert!(!process_exists(pid));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_server_that_cannot_start_is_a_server_start_error() {
    let _one = serial();
    // A bad config: the server's own error line, naming the field.
    let bad = LocalConfig::from_json(serde_json::json!({"vector": {"provider": "nope"}}));
    let err = MemoryEngine::new(bad).await.unwrap_err();
    match &err {
        Mem7Error::ServerStart(message) => {
            assert!(message.contains("exited (exit code 2) before listening"), "{}", message);
            assert!(message.contains("vector.provider"), "{}", message);
            assert!(message.contains("Unsupported vector provider 'nope'"), "{}", message);
        }
        other => panic!("expected ServerStart, got {:?}", other),
    }
    assert!(config_files_left().is_empty(), "{:?}", config_files_left());

    // No such command: the error names it and how to install or point at it.
    let missing = LocalConfig::embedded_default().with_mem7_bin("/nonexistent/bin/mem7");
    let err = MemoryEngine::new(missing).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Mem7Error::ServerStart(_)));
    assert!(text.contains("/nonexistent/bin/mem7") && text.contains("MEM7_BIN"), "{}", text);

    // Not listening in time: the server is killed, not left behind.
    let (config, dir) = hash_config();
    let before = mem7_serve_children();
    let err = MemoryEngine::new(config.with_start_timeout(Duration::from_millis(100))).await.unwrap_err();
    assert!(err.to_string().contains("did not start in 0.1 s"), "{}", err);
    assert_eq!(mem7_serve_children(), before, "no server left running");
    std::fs::remove_dir_all(dir).unwrap();
}

/// This process's child processes (Linux: /proc/*/stat whose parent is us).
fn mem7_serve_children() -> Vec<u32> {
    let me = std::process::id();
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let pid: u32 = match entry.file_name().to_string_lossy().parse() {
            Ok(pid) => pid,
            Err(_) => continue,
        };
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
            // "pid (comm) state ppid ...": the fields after the last ')'.
            let fields: Vec<&str> = stat[stat.rfind(')').unwrap_or(0) + 1..].split_whitespace().collect();
            if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(me) {
                children.push(pid);
            }
        }
    }
    children.sort_unstable();
    children
}
