//! # mem7 (Rust client)
//!
//! The original mem7's Rust API — `MemoryEngine::new(config).await?`, `engine.add(...)`,
//! `engine.search(...)`, `get` / `get_all` / `update` / `delete` / `delete_all` / `history` /
//! `reset` — as a client of the mem7 REST server (`mem7 serve`, from the Python package
//! `mem7-core[server]`).
//!
//! `MemoryEngine::new` takes either a running server ([`RemoteConfig`]: base URL and bearer
//! token) or an engine config ([`MemoryEngineConfig`], the original's; or any mem7 config as
//! JSON in a [`LocalConfig`]): then it starts a local `mem7 serve` with that config on a free
//! loopback port, waits until it answers, and stops it when the engine is dropped.
//!
//! ## Quick start
//!
//! ```no_run
//! use mem7::{ChatMessage, EmbeddingConfig, LlmConfig, MemoryEngine, MemoryEngineConfig};
//!
//! #[tokio::main]
//! async fn main() -> mem7::Result<()> {
//!     let config = MemoryEngineConfig {
//!         llm: LlmConfig {
//!             base_url: "http://localhost:11434/v1".into(),
//!             api_key: "ollama".into(),
//!             model: "qwen2.5:7b".into(),
//!             ..Default::default()
//!         },
//!         embedding: EmbeddingConfig {
//!             base_url: "http://localhost:11434/v1".into(),
//!             api_key: "ollama".into(),
//!             model: "mxbai-embed-large".into(),
//!             dims: 1024,
//!             ..Default::default()
//!         },
//!         ..Default::default()
//!     };
//!     let engine = MemoryEngine::new(config).await?;
//!
//!     let messages = vec![ChatMessage::user("I love playing tennis and my coach is Sarah.")];
//!     engine.add(&messages, Some("alice"), None, None, None, true).await?;
//!     let results = engine
//!         .search("What sports does Alice play?", Some("alice"), None, None, 5, None, true, None, None)
//!         .await?;
//!     for memory in &results.memories {
//!         println!("{:.3} {}", memory.score.unwrap_or_default(), memory.text);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! A server that is already running: `MemoryEngine::new(RemoteConfig::new("http://127.0.0.1:8000")
//! .with_token(token))`.

mod config;
mod engine;
mod error;
mod local;
mod types;

pub use config::{
    ClientConfig, ContextConfig, DecayConfig, EmbeddingConfig, GraphConfig, HistoryConfig, LlmConfig, LocalConfig,
    MemoryEngineConfig, RemoteConfig, RerankerConfig, TelemetryConfig, VectorConfig,
};
pub use engine::{AddOptions, MemoryEngine, SearchOptions};
pub use error::{FieldProblem, Mem7Error, Result};
pub use types::{
    AddResult, ChatMessage, GraphRelation, Health, MemoryAction, MemoryActionResult, MemoryEvent, MemoryItem,
    ModelUsage, SearchResult, UsageReport,
};
