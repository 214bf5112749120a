//! The original mem7's result types (`MemoryItem`, `AddResult`, `SearchResult`, `MemoryEvent`...),
//! read from the REST server's JSON. Field names and types follow the original crate where the
//! REST API carries the same thing; what the server adds (`memory`, `hash`, `stated_at`...) is
//! kept as extra fields. Ids and timestamps are strings (ids are UUIDv7 text; timestamps
//! ISO-8601 with an offset, e.g. `2026-12-04T07:11:35.970903+00:00`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One chat message: `role` is `"user"`, `"assistant"`, `"system"` or `"tool"`.
///
/// `images` (URLs or `data:` URIs) are sent as `image_url` parts of the message, which the server
/// describes with its LLM when vision is enabled (`llm.enable_vision`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
    #[serde(default)]
    pub images: Vec<String>,
}

impl ChatMessage {
    /// A message with this role and text.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage { role: role.into(), content: content.into(), images: Vec::new() }
    }

    /// A `"user"` message.
    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage::new("user", content)
    }

    /// An `"assistant"` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        ChatMessage::new("assistant", content)
    }
}

/// As the REST server reads a message: `{role, content}`, with `content` a list of parts
/// (`text`, then one `image_url` per image) when the message has images.
impl Serialize for ChatMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let content = if self.images.is_empty() {
            serde_json::Value::String(self.content.clone())
        } else {
            let mut parts = vec![serde_json::json!({"type": "text", "text": self.content})];
            for url in &self.images {
                parts.push(serde_json::json!({"type": "image_url", "image_url": {"url": url}}));
            }
            serde_json::Value::Array(parts)
        };
        serde_json::json!({"role": self.role, "content": content}).serialize(serializer)
    }
}

/// What `add` did to one memory (the original's `MemoryAction`; the server reports no `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryAction {
    Add,
    Update,
    Delete,
    None,
}

impl MemoryAction {
    /// `"ADD"`, `"UPDATE"`, `"DELETE"` or `"NONE"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            MemoryAction::Add => "ADD",
            MemoryAction::Update => "UPDATE",
            MemoryAction::Delete => "DELETE",
            MemoryAction::None => "NONE",
        }
    }
}

impl fmt::Display for MemoryAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MemoryAction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "ADD" => Ok(MemoryAction::Add),
            "UPDATE" => Ok(MemoryAction::Update),
            "DELETE" => Ok(MemoryAction::Delete),
            "NONE" => Ok(MemoryAction::None),
            _ => Err(format!("unknown memory action {:?}: expected ADD, UPDATE, DELETE or NONE", s)),
        }
    }
}

impl Serialize for MemoryAction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MemoryAction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One change `add` made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "wire::ActionResult")]
pub struct MemoryActionResult {
    pub id: String,
    pub action: MemoryAction,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

impl MemoryActionResult {
    /// The action's name (`"ADD"`...), as the original's `event()`.
    pub fn event(&self) -> String {
        self.action.to_string()
    }

    /// The memory's text after the change (before it, for a delete), as the original's `memory()`.
    pub fn memory(&self) -> String {
        self.new_value.as_deref().or(self.old_value.as_deref()).unwrap_or("").to_string()
    }
}

/// A graph triple (with a score when it comes from `search`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphRelation {
    pub source: String,
    pub relationship: String,
    pub destination: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

/// The result of `add`: the changes made and the graph triples extracted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddResult {
    pub results: Vec<MemoryActionResult>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub relations: Vec<GraphRelation>,
    /// Set when the graph path failed and the memory changes in `results` were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_error: Option<String>,
    /// The add's model calls and tokens (`None` when it called no model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageReport>,
}

/// What an operation's model calls used: totals, then one entry per model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub embedding_tokens: u64,
    pub total_tokens: u64,
    pub models: Vec<ModelUsage>,
}

/// Calls and tokens of one model (`kind` is `"llm"` or `"embedder"`); a token count the provider
/// did not report is `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelUsage {
    pub kind: String,
    pub provider: String,
    #[serde(default)]
    pub model: Option<String>,
    pub calls: u64,
    #[serde(default)]
    pub texts: u64,
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
    #[serde(default)]
    pub embedding_tokens: Option<u64>,
}

/// The result of `search`: the memories, best first, and related graph triples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "wire::List")]
pub struct SearchResult {
    pub memories: Vec<MemoryItem>,
    pub relations: Vec<GraphRelation>,
    /// The search's model calls and tokens (`None` when it called no model).
    pub usage: Option<UsageReport>,
}

/// A stored memory, as `get`, `get_all` and `search` return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "wire::Item")]
pub struct MemoryItem {
    pub id: String,
    /// The memory's text (the original's field).
    pub text: String,
    /// The same text, under mem0's name.
    pub memory: String,
    /// md5 hex of the text.
    pub hash: Option<String>,
    pub user_id: Option<String>,
    pub agent_id: Option<String>,
    pub run_id: Option<String>,
    pub actor_id: Option<String>,
    pub role: Option<String>,
    /// The memory's metadata (`Value::Null` when it has none).
    pub metadata: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
    /// Relevance (search results only).
    pub score: Option<f32>,
    pub last_accessed_at: Option<String>,
    pub access_count: u32,
    /// `factual`, `preference`, `procedural` or `episodic` (LLM-extracted memories).
    pub memory_type: Option<String>,
}

/// One event of a memory's history (the original's `MemoryEvent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "wire::Event")]
pub struct MemoryEvent {
    pub id: String,
    pub memory_id: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub action: MemoryAction,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub is_deleted: bool,
    pub actor_id: Option<String>,
    pub role: Option<String>,
    /// The `timestamp` the change's add was given (when it was said; `created_at` is when it
    /// was written). Only on events of an add given a timestamp.
    pub stated_at: Option<String>,
}

impl MemoryEvent {
    /// The action's name (`"ADD"`...), as the original's `event()`.
    pub fn event(&self) -> String {
        self.action.to_string()
    }
}

/// The server's health answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub version: String,
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// The server's JSON shapes (both `text` and `memory`, `event` and `action`...), mapped onto the
/// public types above.
mod wire {
    use serde::Deserialize;

    use super::{
        null_as_empty, GraphRelation, MemoryAction, MemoryActionResult, MemoryEvent, MemoryItem, SearchResult,
        UsageReport,
    };

    /// `{"results": [...], "memories": [...], "relations": [...]}`: the same list under mem0's
    /// name and the original's (either one suffices).
    #[derive(Deserialize)]
    pub struct List {
        #[serde(default)]
        memories: Option<Vec<MemoryItem>>,
        #[serde(default)]
        results: Option<Vec<MemoryItem>>,
        #[serde(default, deserialize_with = "null_as_empty")]
        relations: Vec<GraphRelation>,
        #[serde(default)]
        usage: Option<UsageReport>,
    }

    impl From<List> for SearchResult {
        fn from(w: List) -> Self {
            SearchResult {
                memories: w.memories.or(w.results).unwrap_or_default(),
                relations: w.relations,
                usage: w.usage,
            }
        }
    }

    #[derive(Deserialize)]
    pub struct ActionResult {
        id: String,
        #[serde(default)]
        event: Option<MemoryAction>,
        #[serde(default)]
        action: Option<MemoryAction>,
        #[serde(default)]
        old_value: Option<String>,
        #[serde(default)]
        previous_memory: Option<String>,
        #[serde(default)]
        new_value: Option<String>,
    }

    impl From<ActionResult> for MemoryActionResult {
        fn from(w: ActionResult) -> Self {
            MemoryActionResult {
                id: w.id,
                action: w.event.or(w.action).unwrap_or(MemoryAction::None),
                old_value: w.old_value.or(w.previous_memory),
                new_value: w.new_value,
            }
        }
    }

    #[derive(Deserialize)]
    pub struct Item {
        id: String,
        #[serde(default)]
        text: Option<String>,
        #[serde(default)]
        memory: Option<String>,
        #[serde(default)]
        hash: Option<String>,
        #[serde(default)]
        user_id: Option<String>,
        #[serde(default)]
        agent_id: Option<String>,
        #[serde(default)]
        run_id: Option<String>,
        #[serde(default)]
        actor_id: Option<String>,
        #[serde(default)]
        role: Option<String>,
        #[serde(default)]
        metadata: serde_json::Value,
        #[serde(default)]
        created_at: Option<String>,
        #[serde(default)]
        updated_at: Option<String>,
        #[serde(default)]
        score: Option<f32>,
        #[serde(default)]
        last_accessed_at: Option<String>,
        #[serde(default)]
        access_count: Option<u32>,
        #[serde(default)]
        memory_type: Option<String>,
    }

    impl From<Item> for MemoryItem {
        fn from(w: Item) -> Self {
            let text = w.text.or_else(|| w.memory.clone()).unwrap_or_default();
            let created_at = w.created_at.unwrap_or_default();
            MemoryItem {
                id: w.id,
                memory: w.memory.unwrap_or_else(|| text.clone()),
                text,
                hash: w.hash,
                user_id: w.user_id,
                agent_id: w.agent_id,
                run_id: w.run_id,
                actor_id: w.actor_id,
                role: w.role,
                metadata: w.metadata,
                updated_at: w.updated_at.unwrap_or_else(|| created_at.clone()),
                created_at,
                score: w.score,
                last_accessed_at: w.last_accessed_at,
                access_count: w.access_count.unwrap_or(0),
                memory_type: w.memory_type,
            }
        }
    }

    #[derive(Deserialize)]
    pub struct Event {
        id: String,
        memory_id: String,
        #[serde(default)]
        old_memory: Option<String>,
        #[serde(default)]
        old_value: Option<String>,
        #[serde(default)]
        new_memory: Option<String>,
        #[serde(default)]
        new_value: Option<String>,
        #[serde(default)]
        event: Option<MemoryAction>,
        #[serde(default)]
        action: Option<MemoryAction>,
        #[serde(default)]
        created_at: Option<String>,
        #[serde(default)]
        updated_at: Option<String>,
        #[serde(default)]
        is_deleted: bool,
        #[serde(default)]
        actor_id: Option<String>,
        #[serde(default)]
        role: Option<String>,
        #[serde(default)]
        stated_at: Option<String>,
    }

    impl From<Event> for MemoryEvent {
        fn from(w: Event) -> Self {
            MemoryEvent {
                id: w.id,
                memory_id: w.memory_id,
                old_value: w.old_memory.or(w.old_value),
                new_value: w.new_memory.or(w.new_value),
                action: w.event.or(w.action).unwrap_or(MemoryAction::None),
                created_at: w.created_at.unwrap_or_default(),
                updated_at: w.updated_at,
                is_deleted: w.is_deleted,
                actor_id: w.actor_id,
                role: w.role,
                stated_at: w.stated_at,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_item_reads_as_the_original_item() {
        let item: MemoryItem = serde_json::from_str(
            r#"{"id":"01a2","memory":"I love tennis","text":"I love tennis","hash":"ec70",
                "user_id":"alice","created_at":"2026-12-04T07:11:35+00:00","access_count":2,
                "metadata":{"k":1},"score":1.5,"role":"user"}"#,
        )
        .unwrap();
        assert_eq!(item.text, "I love tennis");
        assert_eq!(item.memory, "I love tennis");
        assert_eq!(item.user_id.as_deref(), Some("alice"));
        assert_eq!(item.agent_id, None);
        assert_eq!(item.metadata, serde_json::json!({"k": 1}));
        assert_eq!(item.score, Some(1.5));
        assert_eq!(item.access_count, 2);
        assert_eq!(item.updated_at, item.created_at, "no updated_at: the creation time");
        // Serialized and read back: the same item.
        let again: MemoryItem = serde_json::from_value(serde_json::to_value(&item).unwrap()).unwrap();
        assert_eq!(again, item);
        let bare: MemoryItem = serde_json::from_str(r#"{"id":"x","memory":"m"}"#).unwrap();
        assert_eq!((bare.text.as_str(), bare.metadata.is_null(), bare.score), ("m", true, None));
    }

    #[test]
    fn actions_and_events_read_the_servers_names() {
        let r: MemoryActionResult = serde_json::from_str(
            r#"{"id":"1","memory":"new","event":"UPDATE","action":"UPDATE","old_value":"old","new_value":"new"}"#,
        )
        .unwrap();
        assert_eq!(r.action, MemoryAction::Update);
        assert_eq!((r.memory(), r.event()), ("new".to_string(), "UPDATE".to_string()));
        let e: MemoryEvent = serde_json::from_str(
            r#"{"id":"e","memory_id":"1","old_memory":"a","new_memory":"b","event":"UPDATE","created_at":"t","is_deleted":false}"#,
        )
        .unwrap();
        assert_eq!((e.old_value.as_deref(), e.new_value.as_deref()), (Some("a"), Some("b")));
        assert_eq!(e.action, MemoryAction::Update);
        assert!(serde_json::from_str::<MemoryAction>(r#""MERGE""#).is_err());
        let added: AddResult = serde_json::from_str(r#"{"results":[],"relations":null}"#).unwrap();
        assert!(added.relations.is_empty());
    }

    #[test]
    fn messages_serialize_as_the_server_reads_them() {
        let plain = serde_json::to_value(ChatMessage::user("hi")).unwrap();
        assert_eq!(plain, serde_json::json!({"role": "user", "content": "hi"}));
        let mut with_image = ChatMessage::user("look");
        with_image.images.push("data:image/png;base64,AAAA".into());
        assert_eq!(
            serde_json::to_value(&with_image).unwrap(),
            serde_json::json!({"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ]})
        );
    }
}
