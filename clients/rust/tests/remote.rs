//! The client against a real `mem7 serve` that the pytest wrapper started on loopback
//! (`RUST_CLIENT_TEST_URL`, tokens: `RUST_CLIENT_TEST_TOKEN` unrestricted, `RUST_CLIENT_TEST_ALICE_TOKEN` pinned to
//! user_id "alice"), on the instant hash embedder. Every test uses scope ids of its own, so the
//! tests share the server while running in parallel.

mod common;

use common::{setting, unique};
use mem7::{AddOptions, ChatMessage, Mem7Error, MemoryAction, MemoryEngine, RemoteConfig, SearchOptions};
use serde_json::json;

fn admin() -> RemoteConfig {
    RemoteConfig::new(setting("RUST_CLIENT_TEST_URL")).with_token(setting("RUST_CLIENT_TEST_TOKEN"))
}

async fn engine() -> MemoryEngine {
    MemoryEngine::new(admin()).await.expect("the test server answers")
}

fn messages(texts: &[&str]) -> Vec<ChatMessage> {
    texts.iter().map(|t| ChatMessage::user(*t)).collect()
}

#[tokio::test]
async fn add_then_search_returns_the_memory() {
    let engine = engine().await;
    let user = unique("searcher");
    let meta = json!({"topic": "hobby"});
    let added = engine
        .add(
            &messages(&["I play tennis every Sunday", "My sister lives in Lisbon"]),
            Some(&user),
            None,
            None,
            Some(&meta),
            false,
        )
        .await
        .unwrap();
    assert_eq!(added.results.len(), 2, "{:?}", added);
    assert!(added.relations.is_empty());
    for (result, text) in added.results.iter().zip(["I play tennis every Sunday", "My sister lives in Lisbon"]) {
        assert_eq!(result.action, MemoryAction::Add);
        assert_eq!(result.new_value.as_deref(), Some(text));
        assert_eq!(result.old_value, None);
        assert_eq!(result.memory(), text);
        assert_eq!(result.event(), "ADD");
    }
    let tennis_id = added.results[0].id.clone();
    assert_ne!(tennis_id, added.results[1].id);
    // The add's usage: one call of the server's hash embedder for both texts; it reports no tokens.
    let usage = added.usage.as_ref().expect("an add that embedded reports its usage");
    assert_eq!((usage.calls, usage.total_tokens, usage.models.len()), (1, 0, 1));
    let model = &usage.models[0];
    assert_eq!((model.kind.as_str(), model.provider.as_str(), model.texts), ("embedder", "hash", 2));
    assert_eq!(model.embedding_tokens, None);

    // The original's positional search: query, user, agent, run, limit, filters, rerank, threshold, task type.
    let found = engine.search("tennis on Sunday", Some(&user), None, None, 5, None, true, None, None).await.unwrap();
    assert_eq!(found.memories.len(), 2, "{:?}", found);
    assert_eq!(found.usage.as_ref().map(|u| u.calls), Some(1)); // the query's embedding
    let top = &found.memories[0];
    assert_eq!(top.id, tennis_id);
    assert_eq!(top.text, "I play tennis every Sunday");
    assert_eq!(top.memory, top.text);
    assert_eq!(top.user_id.as_deref(), Some(user.as_str()));
    assert_eq!((top.agent_id.as_deref(), top.run_id.as_deref()), (None, None));
    assert_eq!(top.metadata, meta);
    assert_eq!(top.role.as_deref(), Some("user"));
    let score = top.score.expect("search results carry a score");
    assert!(score > found.memories[1].score.unwrap(), "best first: {:?}", found.memories);
    assert_eq!(top.hash.as_deref().map(str::len), Some(32), "md5 hex: {:?}", top.hash);
    assert!(top.created_at.len() >= 19 && top.created_at.as_bytes()[10] == b'T', "{}", top.created_at);
    assert_eq!(top.access_count, 0);

    let one = engine.search("tennis", Some(&user), None, None, 1, None, true, None, None).await.unwrap();
    assert_eq!(one.memories.len(), 1);
    let other_topic = json!({"topic": "work"});
    let none = engine.search("tennis", Some(&user), None, None, 5, Some(&other_topic), true, None, None).await.unwrap();
    assert!(none.memories.is_empty(), "{:?}", none);
    // A threshold above every score drops them all.
    let above = engine.search("tennis", Some(&user), None, None, 5, None, true, Some(score + 1.0), None).await.unwrap();
    assert!(above.memories.is_empty(), "{:?}", above);

    let all = engine.get_all(Some(&user), None, None, None, None).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|m| m.score.is_none()), "listing has no scores: {:?}", all);
    assert_eq!(engine.get_all(Some(&user), None, None, Some(&meta), Some(1)).await.unwrap().len(), 1);
    assert!(engine.get_all(Some(&user), None, None, Some(&other_topic), None).await.unwrap().is_empty());
}

#[tokio::test]
async fn options_structs_reach_the_server() {
    let engine = engine().await;
    let (user, agent) = (unique("opts"), unique("agent"));
    let options = AddOptions {
        user_id: Some(&user),
        agent_id: Some(&agent),
        infer: false,
        memory_type: Some("procedural"),
        timestamp: Some("2023-05-08T13:56:00Z"),
        ..AddOptions::new()
    };
    let added =
        engine.add_with_options(&messages(&["Restart the proxy when Chrome times out"]), &options).await.unwrap();
    let id = &added.results[0].id;
    let item = engine.get(id).await.unwrap();
    assert_eq!(item.memory_type.as_deref(), Some("procedural"));
    assert_eq!(item.agent_id.as_deref(), Some(agent.as_str()));
    assert!(item.created_at.starts_with("2023-05-08"), "the stated time dates it: {}", item.created_at);
    let history = engine.history(id).await.unwrap();
    assert!(history[0].stated_at.as_deref().unwrap_or("").starts_with("2023-05-08"), "{:?}", history);

    let search = SearchOptions {
        user_id: Some(&user),
        agent_id: Some(&agent),
        task_type: Some("troubleshooting"),
        now: Some("2023-06-10T00:00:00Z"),
        ..Default::default()
    };
    let found = engine.search_with_options("Chrome times out", &search).await.unwrap();
    assert_eq!(found.memories.iter().map(|m| &m.id).collect::<Vec<_>>(), vec![id]);
}

#[tokio::test]
async fn get_update_history_delete_round_trip() {
    let engine = engine().await;
    let user = unique("crud");
    let added = engine
        .add(&messages(&["I love tennis"]), Some(&user), None, None, Some(&json!({"topic": "sport"})), false)
        .await
        .unwrap();
    let id = added.results[0].id.clone();

    let item = engine.get(&id).await.unwrap();
    assert_eq!((item.id.as_str(), item.text.as_str()), (id.as_str(), "I love tennis"));

    engine.update(&id, "I love squash").await.unwrap();
    assert_eq!(engine.get(&id).await.unwrap().text, "I love squash");
    engine.update_with_metadata(&id, "I love squash a lot", Some(&json!({"source": "chat"}))).await.unwrap();
    let updated = engine.get(&id).await.unwrap();
    assert_eq!(updated.text, "I love squash a lot");
    assert_eq!(updated.metadata, json!({"topic": "sport", "source": "chat"}), "metadata merged");

    let history = engine.history(&id).await.unwrap();
    let actions: Vec<MemoryAction> = history.iter().map(|e| e.action).collect();
    assert_eq!(actions, [MemoryAction::Add, MemoryAction::Update, MemoryAction::Update]);
    assert!(history.iter().all(|e| e.memory_id == id && !e.is_deleted));
    assert_eq!(history[0].new_value.as_deref(), Some("I love tennis"));
    assert_eq!(history[1].old_value.as_deref(), Some("I love tennis"));
    assert_eq!(history[1].new_value.as_deref(), Some("I love squash"));
    assert_eq!(history[1].event(), "UPDATE");

    engine.delete(&id).await.unwrap();
    match engine.get(&id).await {
        Err(Mem7Error::NotFound { op, message }) => {
            assert_eq!(op, "get");
            assert!(message.contains(&id), "{}", message);
        }
        other => panic!("expected NotFound, got {:?}", other),
    }
    // As in the original: deleting an unknown id is not an error, its history is empty.
    engine.delete(&id).await.unwrap();
    let unknown = "01a23fe4-0000-7000-8000-000000000000";
    assert!(engine.history(unknown).await.unwrap().is_empty());
    match engine.update(unknown, "x").await {
        Err(e @ Mem7Error::NotFound { .. }) => assert_eq!(e.status(), Some(404)),
        other => panic!("expected NotFound, got {:?}", other),
    }

    engine.add(&messages(&["one", "two"]), Some(&user), None, None, None, false).await.unwrap();
    assert_eq!(engine.get_all(Some(&user), None, None, None, None).await.unwrap().len(), 2);
    engine.delete_all(Some(&user), None, None).await.unwrap();
    assert!(engine.get_all(Some(&user), None, None, None, None).await.unwrap().is_empty());
}

#[tokio::test]
async fn scopes_isolate() {
    let engine = engine().await;
    let (user_a, user_b) = (unique("iso-a"), unique("iso-b"));
    let (run_1, run_2) = (unique("run"), unique("run"));
    engine.add(&messages(&["I like green tea"]), Some(&user_a), None, Some(&run_1), None, false).await.unwrap();
    engine.add(&messages(&["I like black coffee"]), Some(&user_a), None, Some(&run_2), None, false).await.unwrap();
    let b = engine.add(&messages(&["I like green tea too"]), Some(&user_b), None, None, None, false).await.unwrap();

    let a_all = engine.get_all(Some(&user_a), None, None, None, None).await.unwrap();
    assert_eq!(a_all.len(), 2);
    assert!(a_all.iter().all(|m| m.user_id.as_deref() == Some(user_a.as_str())));
    let run_only = engine.get_all(Some(&user_a), None, Some(&run_1), None, None).await.unwrap();
    assert_eq!(run_only.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["I like green tea"]);
    let found = engine.search("green tea", Some(&user_a), None, None, 10, None, true, None, None).await.unwrap();
    assert!(!found.memories.is_empty());
    assert!(found.memories.iter().all(|m| m.user_id.as_deref() == Some(user_a.as_str())), "{:?}", found);
    let b_found = engine.search("green tea", Some(&user_b), None, None, 10, None, true, None, None).await.unwrap();
    assert_eq!(b_found.memories.iter().map(|m| &m.id).collect::<Vec<_>>(), vec![&b.results[0].id]);
    engine.delete_all(Some(&user_a), None, None).await.unwrap();
    assert!(engine.get_all(Some(&user_a), None, None, None, None).await.unwrap().is_empty());
    assert_eq!(engine.get_all(Some(&user_b), None, None, None, None).await.unwrap().len(), 1, "b untouched");

    // A token pinned to user "alice": its own scope only; another scope is refused or not found.
    let alice = MemoryEngine::new(
        RemoteConfig::new(setting("RUST_CLIENT_TEST_URL")).with_token(setting("RUST_CLIENT_TEST_ALICE_TOKEN")),
    )
    .await
    .unwrap();
    let run = unique("alice-run");
    let mine = alice.add(&messages(&["I keep bees"]), None, None, Some(&run), None, false).await.unwrap();
    let listed = alice.get_all(Some("alice"), None, Some(&run), None, None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].user_id.as_deref(), Some("alice"), "the pin fills in the user");
    assert_eq!(alice.get(&mine.results[0].id).await.unwrap().text, "I keep bees");
    match alice.get_all(Some(&user_b), None, None, None, None).await {
        Err(e @ Mem7Error::Forbidden { .. }) => {
            assert_eq!(e.status(), Some(403));
            assert!(e.to_string().starts_with("get_all: forbidden: "), "{}", e);
        }
        other => panic!("expected Forbidden, got {:?}", other),
    }
    assert!(matches!(alice.get(&b.results[0].id).await, Err(Mem7Error::NotFound { .. })));
    assert!(matches!(alice.reset().await, Err(Mem7Error::Forbidden { op: "reset", .. })));
    alice.delete_all(Some("alice"), None, Some(&run)).await.unwrap();
}

#[tokio::test]
async fn bad_requests_give_typed_errors_with_the_servers_message() {
    let engine = engine().await;
    let user = unique("bad");

    let err = engine.search("q", Some(&user), None, None, 0, None, true, None, None).await.unwrap_err();
    match &err {
        Mem7Error::Validation { op, status, problems } => {
            assert_eq!((*op, *status), ("search", 422));
            assert_eq!(problems.len(), 1);
            assert_eq!(problems[0].field(), "limit");
            assert_eq!(problems[0].msg, "Input should be greater than or equal to 1");
        }
        other => panic!("expected Validation, got {:?}", other),
    }
    assert_eq!(err.to_string(), "search: invalid input: limit: Input should be greater than or equal to 1");
    assert!(!err.is_retryable());

    // No scope: the server names the field and the fix.
    let err = engine.search("q", None, None, None, 5, None, true, None, None).await.unwrap_err();
    assert_eq!(err.problems()[0].field(), "user_id");
    assert!(err.problems()[0].msg.contains("needs at least one of user_id, agent_id or run_id"), "{}", err);
    assert!(err.to_string().contains("user_id='alice'"), "{}", err);
    let err = engine.delete_all(None, None, None).await.unwrap_err();
    assert!(matches!(&err, Mem7Error::Validation { op: "delete_all", .. }), "{:?}", err);
    assert!(err.to_string().contains("reset()"), "{}", err);
    let err = engine.get_all(None, None, None, None, None).await.unwrap_err();
    assert_eq!(err.problems()[0].field(), "user_id");

    let err = engine.search("q", Some(&user), None, None, 5, None, true, None, Some("gardening")).await.unwrap_err();
    assert_eq!(err.problems()[0].field(), "task_type");
    assert!(err.problems()[0].msg.contains("'troubleshooting'"), "{}", err);

    let err = engine.add(&[ChatMessage::new("human", "hi")], Some(&user), None, None, None, false).await.unwrap_err();
    // `messages` takes several shapes; the problem with the list's first message names its role.
    let role = err.problems().iter().find(|p| p.field() == "messages.0.role");
    assert!(role.map_or(false, |p| p.msg.contains("'user'")), "{:?}", err);
    assert!(err.to_string().contains("messages.0.role: Input should be 'system', 'user'"), "{}", err);

    let err = engine.get_all(Some(&user), None, None, None, Some(100_000)).await.unwrap_err();
    assert_eq!(err.problems()[0].field(), "limit");
    let bad_filter = json!({"topic": {"regex": "x"}});
    let err = engine.get_all(Some(&user), None, None, Some(&bad_filter), None).await.unwrap_err();
    assert!(matches!(err, Mem7Error::Validation { .. }), "{:?}", err);
    assert!(err.to_string().contains("regex"), "{}", err);
}

#[tokio::test]
async fn auth_failures_are_typed() {
    let url = setting("RUST_CLIENT_TEST_URL");
    // /health needs no token, so the engine is made; the first call is refused.
    let wrong = MemoryEngine::new(RemoteConfig::new(url.clone()).with_token("not-a-token")).await.unwrap();
    let err = wrong.get_all(Some("alice"), None, None, None, None).await.unwrap_err();
    assert!(matches!(err, Mem7Error::Authentication { op: "get_all", .. }), "{:?}", err);
    assert!(err.to_string().contains("with_token"), "names the fix: {}", err);
    let none = MemoryEngine::new(RemoteConfig::new(url)).await.unwrap();
    assert!(matches!(none.reset().await, Err(Mem7Error::Authentication { .. })));
}

#[tokio::test]
async fn an_unreachable_server_is_a_connection_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{}", port);
    let err = MemoryEngine::new(RemoteConfig::new(url.clone())).await.unwrap_err();
    match &err {
        Mem7Error::Connection { op, url: reached, message } => {
            assert_eq!((*op, reached.as_str()), ("health", url.as_str()));
            assert!(message.to_lowercase().contains("refused"), "{}", message);
        }
        other => panic!("expected Connection, got {:?}", other),
    }
    assert!(err.is_retryable());
    assert_eq!(err.status(), None);

    let err = MemoryEngine::new(RemoteConfig::new("127.0.0.1:8000")).await.unwrap_err();
    assert!(matches!(&err, Mem7Error::Config(m) if m.contains("base_url")), "{:?}", err);
}
