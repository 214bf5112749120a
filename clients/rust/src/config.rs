//! What `MemoryEngine::new` takes: a running server ([`RemoteConfig`]: base URL and token), or an
//! engine config ([`MemoryEngineConfig`], the original mem7's, or any mem7 config as JSON, in a
//! [`LocalConfig`]) for a local `mem7 serve` that the engine starts and owns.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Mem7Error, Result};

// ------------------------------------------------------------------------ the original's config

/// The LLM: any OpenAI-compatible chat server (the original's `LlmConfig`, same defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmConfig {
    pub provider: String,
    pub base_url: String,
    /// Empty: the server's `$OPENAI_API_KEY` (the child inherits this process's environment).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_key: String,
    pub model: String,
    pub temperature: f32,
    pub max_tokens: u32,
    pub enable_vision: bool,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            provider: "openai".into(),
            base_url: "https://api.openai.com/v1".into(),
            api_key: String::new(),
            model: "gpt-4.1-nano".into(),
            temperature: 0.0,
            max_tokens: 1000,
            enable_vision: false,
        }
    }
}

/// The embedder: an OpenAI-compatible embeddings server, or `fastembed` (the original's
/// `EmbeddingConfig`, same defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmbeddingConfig {
    pub provider: String,
    pub base_url: String,
    /// Empty: the server's `$OPENAI_API_KEY`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_key: String,
    pub model: String,
    pub dims: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<String>,
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        EmbeddingConfig {
            provider: "openai".into(),
            base_url: "https://api.openai.com/v1".into(),
            api_key: String::new(),
            model: "text-embedding-3-small".into(),
            dims: 1536,
            cache_dir: None,
        }
    }
}

/// The vector store: `flat` (in memory), `upstash` (the original's), `qdrant`, `pgvector`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VectorConfig {
    pub provider: String,
    pub collection_name: String,
    pub dims: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstash_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstash_token: Option<String>,
}

impl Default for VectorConfig {
    fn default() -> Self {
        VectorConfig {
            provider: "flat".into(),
            collection_name: "mem7_memories".into(),
            dims: 1536,
            upstash_url: None,
            upstash_token: None,
        }
    }
}

/// The audit history: a SQLite file (`":memory:"` for none on disk).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryConfig {
    pub db_path: String,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig { db_path: "mem7_history.db".into() }
    }
}

/// A reranker: `cohere`, or `llm` (any OpenAI-compatible chat server; needs `base_url`, `model`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RerankerConfig {
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    pub top_k_multiplier: usize,
}

impl Default for RerankerConfig {
    fn default() -> Self {
        RerankerConfig { provider: "cohere".into(), model: None, api_key: None, base_url: None, top_k_multiplier: 3 }
    }
}

/// Graph memory: `flat` (in memory), `kuzu` (embedded file), `neo4j`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GraphConfig {
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kuzu_db_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neo4j_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neo4j_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neo4j_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neo4j_database: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_prompt: Option<String>,
    /// A separate LLM for the graph (default: the main one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmConfig>,
}

impl Default for GraphConfig {
    fn default() -> Self {
        GraphConfig {
            provider: "flat".into(),
            kuzu_db_path: Some("mem7_graph.kuzu".into()),
            neo4j_url: None,
            neo4j_username: None,
            neo4j_password: None,
            neo4j_database: None,
            custom_prompt: None,
            llm: None,
        }
    }
}

/// OpenTelemetry export settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    pub otlp_endpoint: String,
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig { otlp_endpoint: "http://localhost:4317".into(), service_name: "mem7".into() }
    }
}

/// The forgetting curve (off unless `enabled`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecayConfig {
    pub enabled: bool,
    pub base_half_life_secs: f64,
    pub decay_shape: f64,
    pub min_retention: f64,
    pub rehearsal_factor: f64,
}

impl Default for DecayConfig {
    fn default() -> Self {
        DecayConfig {
            enabled: false,
            base_half_life_secs: 604_800.0,
            decay_shape: 0.8,
            min_retention: 0.1,
            rehearsal_factor: 0.5,
        }
    }
}

/// Session-aware recall: memory type × task type weights (off unless `enabled`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContextConfig {
    pub enabled: bool,
    /// `{memory_type: {task_type: weight}}`; cells left out keep their defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<HashMap<String, HashMap<String, f64>>>,
}

/// The original mem7's engine config, with the same fields and defaults. Given to
/// `MemoryEngine::new`, it starts a local `mem7 serve` with this config (see [`LocalConfig`]).
///
/// Sent to the server as the original's JSON (which mem7 reads): every section except
/// `history` when left at its default (then mem7 keeps the history beside the vectors: in memory
/// with the in-memory `flat` store, where the original wrote `mem7_history.db` in the working
/// directory); an empty `api_key` is left out, so the server's `$OPENAI_API_KEY` applies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryEngineConfig {
    pub llm: LlmConfig,
    pub embedding: EmbeddingConfig,
    pub vector: VectorConfig,
    pub history: HistoryConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reranker: Option<RerankerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph: Option<GraphConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<TelemetryConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay: Option<DecayConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_fact_extraction_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_update_memory_prompt: Option<String>,
}

impl MemoryEngineConfig {
    /// The JSON the local server is given (the original's shape).
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("the config serializes");
        if self.history == HistoryConfig::default() {
            if let Some(map) = value.as_object_mut() {
                map.remove("history");
            }
        }
        value
    }
}

// ------------------------------------------------------------------------ where the server is

/// A running `mem7 serve`: its base URL and, when it has tokens configured, a bearer token.
///
/// ```
/// let config = mem7::RemoteConfig::new("http://127.0.0.1:8000").with_token("tok-alice");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteConfig {
    /// `http://host:port` (a path prefix is kept: `http://proxy/mem7`).
    pub base_url: String,
    pub token: Option<String>,
    /// Per-request timeout (default 60 s: an `add` with an LLM makes two LLM calls).
    pub timeout: Duration,
}

impl RemoteConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        RemoteConfig { base_url: base_url.into(), token: None, timeout: Duration::from_secs(60) }
    }

    /// The bearer token (`MEM7_SERVER_TOKENS` / `--tokens-file` of the server).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `base_url` without trailing slashes, after checking it is an http(s) URL this build can
    /// reach.
    pub(crate) fn checked_base_url(&self) -> Result<String> {
        let url = self.base_url.trim().trim_end_matches('/').to_string();
        let host = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
        if host.map_or(true, |h| h.is_empty() || h.starts_with('/')) {
            return Err(Mem7Error::Config(format!(
                "RemoteConfig.base_url must be an http(s) URL such as \"http://127.0.0.1:8000\" (where `mem7 serve` \
                 listens), got {:?}",
                self.base_url
            )));
        }
        if url.starts_with("https://") && !cfg!(any(feature = "rustls-tls", feature = "native-tls")) {
            return Err(Mem7Error::Config(format!(
                "RemoteConfig.base_url {:?} is https, but this build of mem7-client has no TLS: enable its \
                 `rustls-tls` or `native-tls` feature (mem7-client = {{ ..., features = [\"rustls-tls\"] }})",
                self.base_url
            )));
        }
        Ok(url)
    }
}

/// A local `mem7 serve` that `MemoryEngine::new` starts with an engine config, on a free
/// loopback port with a random bearer token, and stops when the engine is dropped (or
/// [`crate::MemoryEngine::close`]).
///
/// The server is the `mem7` command of the Python package (`pip install 'mem7-core[server]'`):
/// `mem7_bin`, else `$MEM7_BIN`, else `mem7` on `PATH`.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalConfig {
    /// The engine config as JSON (the original's shape, mem0's or mem7's own); `None`: the
    /// server's embedded default (data under `data_dir`, `$MEM7_DATA_DIR` or `~/.mem7`).
    pub config: Option<serde_json::Value>,
    /// The `mem7` command (default `$MEM7_BIN`, else `mem7` on `PATH`).
    pub mem7_bin: Option<PathBuf>,
    /// `--data-dir` of the embedded default.
    pub data_dir: Option<PathBuf>,
    /// Extra environment for the server (e.g. `OPENAI_API_KEY`); the rest is inherited, except
    /// `MEM7_SERVER_*`, `MEM7_BIN` and `MEM7_CONFIG`.
    pub env: Vec<(String, String)>,
    /// Extra `mem7 serve` arguments, e.g. `["-v"]`.
    pub args: Vec<String>,
    /// How long to wait for the server to listen (default 120 s: a first start may load models).
    pub start_timeout: Duration,
    /// Per-request timeout (default 60 s).
    pub timeout: Duration,
    /// How long a stop waits for the graceful shutdown before killing the server (default 30 s).
    pub stop_timeout: Duration,
}

impl LocalConfig {
    /// A server with the original's config.
    pub fn new(config: MemoryEngineConfig) -> Self {
        LocalConfig::from_json(config.to_json())
    }

    /// A server with this config (any shape mem7 reads: the original's, mem0's, mem7's own, e.g.
    /// `{"embedder": {"provider": "hash"}}`).
    pub fn from_json(config: serde_json::Value) -> Self {
        LocalConfig { config: Some(config), ..LocalConfig::embedded_default() }
    }

    /// A server with this config given as JSON text (the original Node binding's argument).
    pub fn from_json_str(config: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(config)
            .map_err(|e| Mem7Error::Config(format!("the config is not valid JSON: {}", e)))?;
        if !value.is_object() {
            return Err(Mem7Error::Config(format!(
                "the config must be a JSON object such as {{\"llm\": {{...}}, \"embedding\": {{...}}}}, got {}",
                value
            )));
        }
        Ok(LocalConfig::from_json(value))
    }

    /// A server with mem7's embedded default (and the `MEM7_*` environment).
    pub fn embedded_default() -> Self {
        LocalConfig {
            config: None,
            mem7_bin: None,
            data_dir: None,
            env: Vec::new(),
            args: Vec::new(),
            start_timeout: Duration::from_secs(120),
            timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(30),
        }
    }

    pub fn with_mem7_bin(mut self, path: impl Into<PathBuf>) -> Self {
        self.mem7_bin = Some(path.into());
        self
    }

    pub fn with_data_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(path.into());
        self
    }

    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn with_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn with_start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn with_stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }
}

/// What `MemoryEngine::new` accepts: a [`RemoteConfig`], a [`LocalConfig`], or a
/// [`MemoryEngineConfig`] (a local server with default options).
#[derive(Debug, Clone, PartialEq)]
pub enum ClientConfig {
    Remote(RemoteConfig),
    Local(LocalConfig),
}

impl From<RemoteConfig> for ClientConfig {
    fn from(config: RemoteConfig) -> Self {
        ClientConfig::Remote(config)
    }
}

impl From<LocalConfig> for ClientConfig {
    fn from(config: LocalConfig) -> Self {
        ClientConfig::Local(config)
    }
}

impl From<MemoryEngineConfig> for ClientConfig {
    fn from(config: MemoryEngineConfig) -> Self {
        ClientConfig::Local(LocalConfig::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_config_is_sent_in_its_own_shape() {
        let config = MemoryEngineConfig {
            llm: LlmConfig {
                base_url: "http://localhost:11434/v1".into(),
                api_key: "ollama".into(),
                model: "qwen2.5:7b".into(),
                ..Default::default()
            },
            embedding: EmbeddingConfig {
                base_url: "http://localhost:11434/v1".into(),
                model: "mxbai-embed-large".into(),
                dims: 1024,
                ..Default::default()
            },
            decay: Some(DecayConfig { enabled: true, ..Default::default() }),
            ..Default::default()
        };
        let json = config.to_json();
        assert_eq!(json["llm"]["api_key"], "ollama");
        assert_eq!(json["llm"]["model"], "qwen2.5:7b");
        assert!(json["embedding"].get("api_key").is_none(), "empty key left out: {}", json);
        assert_eq!(json["embedding"]["dims"], 1024);
        assert_eq!(json["vector"]["provider"], "flat");
        assert!(json.get("history").is_none(), "default history left to the server: {}", json);
        assert_eq!(json["decay"]["enabled"], true);
        assert!(json.get("graph").is_none() && json.get("reranker").is_none());
        // It reads back as the same config.
        let again: MemoryEngineConfig = serde_json::from_value(json).unwrap();
        assert_eq!(again.embedding.dims, 1024);
        let with_history =
            MemoryEngineConfig { history: HistoryConfig { db_path: ":memory:".into() }, ..Default::default() };
        assert_eq!(with_history.to_json()["history"]["db_path"], ":memory:");
    }

    #[test]
    fn base_urls_are_checked() {
        let ok = RemoteConfig::new("http://127.0.0.1:8000/").checked_base_url().unwrap();
        assert_eq!(ok, "http://127.0.0.1:8000");
        for bad in ["127.0.0.1:8000", "", "ftp://x", "http://"] {
            let err = RemoteConfig::new(bad).checked_base_url().unwrap_err();
            assert!(matches!(&err, Mem7Error::Config(m) if m.contains("base_url")), "{}: {}", bad, err);
            assert!(err.to_string().contains("http://127.0.0.1:8000"), "names the fix: {}", err);
        }
        let https = RemoteConfig::new("https://mem.example.com").checked_base_url();
        if cfg!(any(feature = "rustls-tls", feature = "native-tls")) {
            assert!(https.is_ok());
        } else {
            assert!(https.unwrap_err().to_string().contains("rustls-tls"));
        }
    }

    #[test]
    fn json_text_configs_are_checked() {
        assert!(LocalConfig::from_json_str(r#"{"llm": {}}"#).is_ok());
        let err = LocalConfig::from_json_str("{llm").unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{}", err);
        let err = LocalConfig::from_json_str("[1]").unwrap_err();
        assert!(err.to_string().contains("JSON object"), "{}", err);
    }
}
