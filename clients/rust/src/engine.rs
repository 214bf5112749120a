//! `MemoryEngine`: the original mem7's Rust API over the REST server (`mem7 serve`).

use std::fmt;

use serde::de::DeserializeOwned;

use crate::config::{ClientConfig, RemoteConfig};
use crate::error::{Mem7Error, Result};
use crate::local::LocalServer;
use crate::types::{AddResult, ChatMessage, Health, MemoryEvent, MemoryItem, SearchResult};

/// `get_all` without a limit: the server's largest page.
const ALL: usize = 10_000;

/// Options of [`MemoryEngine::add_with_options`] (the original's `AddOptions`, plus what the REST
/// API adds). `AddOptions::new()` infers (LLM fact extraction); `Default` does not, as in the
/// original.
#[derive(Debug, Clone, Default)]
pub struct AddOptions<'a> {
    pub user_id: Option<&'a str>,
    pub agent_id: Option<&'a str>,
    pub run_id: Option<&'a str>,
    /// A JSON object stored with each memory (`metadata` of the results).
    pub metadata: Option<&'a serde_json::Value>,
    /// `true`: the LLM extracts facts and decides ADD / UPDATE / DELETE; `false`: each message
    /// is stored as it is.
    pub infer: bool,
    /// `factual`, `preference`, `procedural` or `episodic` for every memory of this add.
    pub memory_type: Option<&'a str>,
    /// A fact-extraction prompt for this call only.
    pub prompt: Option<&'a str>,
    /// When the conversation happened (ISO-8601; no offset means UTC), for importing an old one.
    pub timestamp: Option<&'a str>,
}

impl<'a> AddOptions<'a> {
    pub fn new() -> Self {
        AddOptions { infer: true, ..Default::default() }
    }
}

/// Options of [`MemoryEngine::search_with_options`] (the original's `SearchOptions`, plus `now`).
#[derive(Debug, Clone)]
pub struct SearchOptions<'a> {
    pub user_id: Option<&'a str>,
    pub agent_id: Option<&'a str>,
    pub run_id: Option<&'a str>,
    /// At most this many results (1 to 10 000; default 5).
    pub limit: usize,
    /// Metadata filters: `{"k": v}`, `{"k": {"gte": 3}}`, `{"AND": [...]}`...
    pub filters: Option<&'a serde_json::Value>,
    /// Use the configured reranker (default `true`).
    pub rerank: bool,
    /// Drop results whose final score is below it.
    pub threshold: Option<f32>,
    /// `troubleshooting`, `design`, `factual_lookup`, `planning` or `general`: skips the LLM's
    /// classification of the query.
    pub task_type: Option<&'a str>,
    /// Search as of this time (ISO-8601): what "last week" counts from, and the decay clock.
    pub now: Option<&'a str>,
}

impl<'a> Default for SearchOptions<'a> {
    fn default() -> Self {
        SearchOptions {
            user_id: None,
            agent_id: None,
            run_id: None,
            limit: 5,
            filters: None,
            rerank: true,
            threshold: None,
            task_type: None,
            now: None,
        }
    }
}

/// The mem7 memory engine, as a client of a `mem7 serve`.
///
/// Made from a [`RemoteConfig`] (a running server), or from a
/// [`MemoryEngineConfig`](crate::MemoryEngineConfig) / [`LocalConfig`](crate::LocalConfig): then
/// the engine starts a local `mem7 serve` with that config and stops it when dropped (or at
/// [`MemoryEngine::close`]). `MemoryEngine` is `Send + Sync`: share it with an `Arc`.
pub struct MemoryEngine {
    http: reqwest::Client,
    base_url: String,
    token: Option<String>,
    server: Option<LocalServer>,
}

impl fmt::Debug for MemoryEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryEngine")
            .field("base_url", &self.base_url)
            .field("server_pid", &self.server_pid())
            .finish()
    }
}

impl MemoryEngine {
    /// A client of the server the config names, or of a local server started with it; checks the
    /// server answers (`GET /health`) before returning.
    pub async fn new(config: impl Into<ClientConfig>) -> Result<Self> {
        match config.into() {
            ClientConfig::Remote(remote) => {
                let base_url = remote.checked_base_url()?;
                let engine = MemoryEngine {
                    http: http_client(&remote, &base_url)?,
                    base_url,
                    token: remote.token.filter(|t| !t.is_empty()),
                    server: None,
                };
                engine.health().await?;
                Ok(engine)
            }
            ClientConfig::Local(local) => {
                let server = LocalServer::start(&local).await?;
                let remote =
                    RemoteConfig::new(server.url.clone()).with_token(server.token.clone()).with_timeout(local.timeout);
                let base_url = remote.checked_base_url()?;
                let engine = MemoryEngine {
                    http: http_client(&remote, &base_url)?,
                    base_url,
                    token: remote.token,
                    server: Some(server),
                };
                // On failure the engine is dropped here, and the server with it.
                engine.health().await?;
                Ok(engine)
            }
        }
    }

    /// The server's address (`http://127.0.0.1:<port>` for a local server).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The process id of the local `mem7 serve` this engine owns (`None` on a remote server).
    pub fn server_pid(&self) -> Option<u32> {
        self.server.as_ref().map(LocalServer::pid)
    }

    /// Stop the local server gracefully (SIGTERM: requests in flight finish, the engine closes;
    /// SIGKILL after `LocalConfig::stop_timeout`) and return its exit code. Dropping the engine
    /// does the same, blocking the dropping thread until the server has exited. On a remote
    /// server: nothing to stop, `Ok(None)`.
    pub async fn close(mut self) -> Result<Option<i32>> {
        match self.server.take() {
            None => Ok(None),
            Some(server) => {
                let status = server.stop().await;
                Ok(status.and_then(|s| s.code()))
            }
        }
    }

    /// `GET /health` (no auth needed).
    pub async fn health(&self) -> Result<Health> {
        self.request("health", reqwest::Method::GET, "/health", &[], None).await
    }

    /// Remember what matters in `messages`: with `infer`, the LLM extracts facts and decides
    /// what to add, update or delete; without, each message is stored as it is.
    pub async fn add(
        &self,
        messages: &[ChatMessage],
        user_id: Option<&str>,
        agent_id: Option<&str>,
        run_id: Option<&str>,
        metadata: Option<&serde_json::Value>,
        infer: bool,
    ) -> Result<AddResult> {
        let options = AddOptions { user_id, agent_id, run_id, metadata, infer, ..Default::default() };
        self.add_with_options(messages, &options).await
    }

    /// [`MemoryEngine::add`] with an options struct (and the REST API's `memory_type`, `prompt`,
    /// `timestamp`).
    pub async fn add_with_options(&self, messages: &[ChatMessage], options: &AddOptions<'_>) -> Result<AddResult> {
        let mut body = serde_json::Map::new();
        body.insert("messages".into(), serde_json::to_value(messages).expect("messages serialize"));
        put_scope(&mut body, options.user_id, options.agent_id, options.run_id);
        put(&mut body, "metadata", options.metadata.cloned());
        body.insert("infer".into(), options.infer.into());
        put(&mut body, "memory_type", options.memory_type.map(Into::into));
        put(&mut body, "prompt", options.prompt.map(Into::into));
        put(&mut body, "timestamp", options.timestamp.map(Into::into));
        self.request("add", reqwest::Method::POST, "/memories", &[], Some(body.into())).await
    }

    /// The memories of the scope most relevant to `query`, best first (the original's
    /// positional signature).
    #[allow(clippy::too_many_arguments)]
    pub async fn search(
        &self,
        query: &str,
        user_id: Option<&str>,
        agent_id: Option<&str>,
        run_id: Option<&str>,
        limit: usize,
        filters: Option<&serde_json::Value>,
        rerank: bool,
        threshold: Option<f32>,
        task_type: Option<&str>,
    ) -> Result<SearchResult> {
        let options =
            SearchOptions { user_id, agent_id, run_id, limit, filters, rerank, threshold, task_type, now: None };
        self.search_with_options(query, &options).await
    }

    /// [`MemoryEngine::search`] with an options struct (and the REST API's `now`).
    pub async fn search_with_options(&self, query: &str, options: &SearchOptions<'_>) -> Result<SearchResult> {
        let mut body = serde_json::Map::new();
        body.insert("query".into(), query.into());
        put_scope(&mut body, options.user_id, options.agent_id, options.run_id);
        body.insert("limit".into(), options.limit.into());
        put(&mut body, "filters", options.filters.cloned());
        body.insert("rerank".into(), options.rerank.into());
        put(&mut body, "threshold", options.threshold.map(|t| f64::from(t).into()));
        put(&mut body, "task_type", options.task_type.map(Into::into));
        put(&mut body, "now", options.now.map(Into::into));
        self.request("search", reqwest::Method::POST, "/memories/search", &[], Some(body.into())).await
    }

    /// One memory by id; [`Mem7Error::NotFound`] when there is none in the caller's scope.
    pub async fn get(&self, memory_id: impl fmt::Display) -> Result<MemoryItem> {
        let path = format!("/memories/{}", encode_segment(&memory_id.to_string()));
        self.request("get", reqwest::Method::GET, &path, &[], None).await
    }

    /// The memories of a scope, oldest first; `limit: None` is the server's largest page
    /// (10 000).
    pub async fn get_all(
        &self,
        user_id: Option<&str>,
        agent_id: Option<&str>,
        run_id: Option<&str>,
        filters: Option<&serde_json::Value>,
        limit: Option<usize>,
    ) -> Result<Vec<MemoryItem>> {
        let mut query = scope_query(user_id, agent_id, run_id);
        query.push(("limit", limit.unwrap_or(ALL).to_string()));
        if let Some(filters) = filters {
            query.push(("filters", filters.to_string()));
        }
        let list: SearchResult = self.request("get_all", reqwest::Method::GET, "/memories", &query, None).await?;
        Ok(list.memories)
    }

    /// Replace a memory's text (re-embedded); [`Mem7Error::NotFound`] for an unknown id.
    pub async fn update(&self, memory_id: impl fmt::Display, new_text: &str) -> Result<()> {
        self.update_with_metadata(memory_id, new_text, None).await
    }

    /// [`MemoryEngine::update`], also merging `metadata` into the memory's own.
    pub async fn update_with_metadata(
        &self,
        memory_id: impl fmt::Display,
        new_text: &str,
        metadata: Option<&serde_json::Value>,
    ) -> Result<()> {
        let path = format!("/memories/{}", encode_segment(&memory_id.to_string()));
        let mut body = serde_json::Map::new();
        body.insert("text".into(), new_text.into());
        put(&mut body, "metadata", metadata.cloned());
        let _: serde_json::Value = self.request("update", reqwest::Method::PUT, &path, &[], Some(body.into())).await?;
        Ok(())
    }

    /// Delete one memory (its history keeps a DELETE event). As in the original, an unknown id
    /// is not an error.
    pub async fn delete(&self, memory_id: impl fmt::Display) -> Result<()> {
        let path = format!("/memories/{}", encode_segment(&memory_id.to_string()));
        match self.request::<serde_json::Value>("delete", reqwest::Method::DELETE, &path, &[], None).await {
            Ok(_) | Err(Mem7Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Delete every memory of a scope (a scope is required; [`MemoryEngine::reset`] wipes all).
    pub async fn delete_all(&self, user_id: Option<&str>, agent_id: Option<&str>, run_id: Option<&str>) -> Result<()> {
        let query = scope_query(user_id, agent_id, run_id);
        let _: serde_json::Value =
            self.request("delete_all", reqwest::Method::DELETE, "/memories", &query, None).await?;
        Ok(())
    }

    /// A memory's ADD / UPDATE / DELETE events, oldest first (empty for an unknown id, as in the
    /// original).
    pub async fn history(&self, memory_id: impl fmt::Display) -> Result<Vec<MemoryEvent>> {
        let path = format!("/memories/{}/history", encode_segment(&memory_id.to_string()));
        match self.request("history", reqwest::Method::GET, &path, &[], None).await {
            Err(Mem7Error::NotFound { .. }) => Ok(Vec::new()),
            other => other,
        }
    }

    /// Delete every memory and history event (needs a token not pinned to a scope).
    pub async fn reset(&self) -> Result<()> {
        let _: serde_json::Value = self.request("reset", reqwest::Method::POST, "/reset", &[], None).await?;
        Ok(())
    }

    async fn request<T: DeserializeOwned>(
        &self,
        op: &'static str,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<serde_json::Value>,
    ) -> Result<T> {
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base_url, path))
            .header(reqwest::header::ACCEPT, "application/json");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(&body).expect("a JSON value serializes"));
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Err(self.connection_error(op, &e)),
        };
        let status = response.status();
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return Err(self.connection_error(op, &e)),
        };
        if !status.is_success() {
            return Err(Mem7Error::from_response(op, status.as_u16(), &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| Mem7Error::Serialization {
            op,
            message: format!("{} in {}", e, String::from_utf8_lossy(&bytes).chars().take(500).collect::<String>()),
        })
    }

    fn connection_error(&self, op: &'static str, error: &reqwest::Error) -> Mem7Error {
        let mut message = if error.is_timeout() { "timed out".to_string() } else { error.to_string() };
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message = format!("{}: {}", message, text);
            }
            source = cause.source();
        }
        if let Some(dead) = self.server.as_ref().and_then(LocalServer::describe_exit) {
            message = format!("{}; {}", message, dead);
        }
        Mem7Error::Connection { op, url: self.base_url.clone(), message }
    }
}

fn http_client(config: &RemoteConfig, base_url: &str) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().timeout(config.timeout);
    let host = base_url.split("://").nth(1).unwrap_or("");
    if host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]") {
        // Loopback never goes through $HTTP_PROXY.
        builder = builder.no_proxy();
    }
    builder.build().map_err(|e| Mem7Error::Config(format!("cannot build the HTTP client for {}: {}", base_url, e)))
}

fn put(body: &mut serde_json::Map<String, serde_json::Value>, key: &str, value: Option<serde_json::Value>) {
    if let Some(value) = value {
        body.insert(key.into(), value);
    }
}

fn put_scope(
    body: &mut serde_json::Map<String, serde_json::Value>,
    user_id: Option<&str>,
    agent_id: Option<&str>,
    run_id: Option<&str>,
) {
    put(body, "user_id", user_id.map(Into::into));
    put(body, "agent_id", agent_id.map(Into::into));
    put(body, "run_id", run_id.map(Into::into));
}

fn scope_query(user_id: Option<&str>, agent_id: Option<&str>, run_id: Option<&str>) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    for (key, value) in [("user_id", user_id), ("agent_id", agent_id), ("run_id", run_id)] {
        if let Some(value) = value {
            query.push((key, value.to_string()));
        }
    }
    query
}

/// Percent-encodes everything but RFC 3986's unreserved characters (ids are UUIDs; anything
/// else still reaches the server as one path segment).
fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{:02X}", byte));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("01a2-b3"), "01a2-b3");
        assert_eq!(encode_segment("a/b c?"), "a%2Fb%20c%3F");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }

    #[test]
    fn the_original_defaults() {
        let search = SearchOptions::default();
        assert_eq!((search.limit, search.rerank), (5, true));
        assert!(AddOptions::new().infer);
        assert!(!AddOptions::default().infer);
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn the_engine_can_be_shared_between_tasks() {
        assert_send_sync::<MemoryEngine>();
    }
}
