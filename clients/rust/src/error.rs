//! Errors: one variant per kind of failure, so callers can tell bad input (`Validation`, naming
//! each field at fault) from a missing memory (`NotFound`), a failing provider (`Provider`) or a
//! server that cannot be reached at all (`Connection`).

use std::fmt;

/// One problem of a 400 / 422 answer: the field at fault and what is wrong with it.
///
/// `loc` is the server's path to the field (`["body", "limit"]`); [`FieldProblem::field`] drops
/// the leading `body` / `query` / `path` part (`"limit"`). `msg` is the server's message, which
/// says what to send instead (`Input should be greater than or equal to 1`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct FieldProblem {
    #[serde(default)]
    pub loc: Vec<serde_json::Value>,
    #[serde(default)]
    pub msg: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl FieldProblem {
    /// The field's name as the request spelled it: `limit`, `messages.0.role`, `task_type`
    /// (empty when the problem is about the request as a whole). The server's validator also
    /// names which alternative of a field that takes several shapes it tried (`messages` is a
    /// string, a message or a list: `["body", "messages", "list[union[str,Message]]", 0,
    /// "Message", "role"]`); those type names are left out.
    pub fn field(&self) -> String {
        let mut out: Vec<String> = Vec::new();
        for (i, part) in self.loc.iter().enumerate() {
            let part = match part {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let place = i == 0 && matches!(part.as_str(), "body" | "query" | "path" | "header");
            let type_name = part.contains('[')
                || part.starts_with(|c: char| c.is_ascii_uppercase())
                || matches!(part.as_str(), "str" | "int" | "float" | "bool" | "dict" | "list" | "none");
            if !place && !type_name {
                out.push(part);
            }
        }
        out.join(".")
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.field();
        if field.is_empty() {
            write!(f, "{}", self.msg)
        } else {
            write!(f, "{}: {}", field, self.msg)
        }
    }
}

/// Everything a call can fail with. `op` names the call (`"search"`, `"add"`...); `message` is
/// the server's own text where there is one.
#[derive(Debug)]
#[non_exhaustive]
pub enum Mem7Error {
    /// 400 / 422: bad input. `problems` names each field at fault with the server's message
    /// (e.g. `limit: Input should be greater than or equal to 1`, or `user_id: search() needs at
    /// least one of user_id, agent_id or run_id (e.g. user_id='alice')`).
    Validation { op: &'static str, status: u16, problems: Vec<FieldProblem> },
    /// 401: auth is on and no token, or an unknown one, was sent: set the server's token with
    /// `RemoteConfig::with_token`.
    Authentication { op: &'static str, message: String },
    /// 403: the token is pinned to another scope, or may not call this operation (`reset`).
    Forbidden { op: &'static str, message: String },
    /// 404: no memory with this id in the caller's scope.
    NotFound { op: &'static str, message: String },
    /// 502 / 503 / 504 / 507: a provider (LLM, embedder, store...) failed; `provider` names it.
    /// 503 and 504 are worth retrying ([`Mem7Error::is_retryable`]).
    Provider { op: &'static str, status: u16, provider: Option<String>, message: String },
    /// Any other non-2xx answer (409, 413, 500...), with the server's text.
    Http { op: &'static str, status: u16, message: String },
    /// The server could not be reached (connection refused, timeout, the local server died).
    Connection { op: &'static str, url: String, message: String },
    /// The local `mem7 serve` could not be found or did not start; its own error line is in
    /// the message (e.g. a bad config field).
    ServerStart(String),
    /// A bad argument caught before anything was sent: the message names it and the fix.
    Config(String),
    /// The server answered with something that is not the expected JSON.
    Serialization { op: &'static str, message: String },
}

impl Mem7Error {
    /// The HTTP status of a server answer (`None` for errors raised before or without one).
    pub fn status(&self) -> Option<u16> {
        match self {
            Mem7Error::Validation { status, .. }
            | Mem7Error::Provider { status, .. }
            | Mem7Error::Http { status, .. } => Some(*status),
            Mem7Error::Authentication { .. } => Some(401),
            Mem7Error::Forbidden { .. } => Some(403),
            Mem7Error::NotFound { .. } => Some(404),
            _ => None,
        }
    }

    /// Whether trying again later may succeed: a provider that was rate-limited or timed out
    /// (503, 504), or a server that could not be reached.
    pub fn is_retryable(&self) -> bool {
        match self {
            Mem7Error::Provider { status, .. } => *status == 503 || *status == 504,
            Mem7Error::Connection { .. } => true,
            _ => false,
        }
    }

    /// The field problems of a `Validation` error (empty for the others).
    pub fn problems(&self) -> &[FieldProblem] {
        match self {
            Mem7Error::Validation { problems, .. } => problems,
            _ => &[],
        }
    }

    /// The error for a non-2xx answer, from its status and body.
    pub(crate) fn from_response(op: &'static str, status: u16, body: &[u8]) -> Mem7Error {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let detail = parsed.as_ref().and_then(|v| v.get("detail"));
        let text = match detail {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) if !other.is_array() => other.to_string(),
            _ => {
                let raw = String::from_utf8_lossy(body).trim().to_string();
                if raw.is_empty() || detail.is_some() {
                    format!("HTTP {}", status)
                } else {
                    raw.chars().take(2000).collect()
                }
            }
        };
        match status {
            400 | 422 => {
                let problems = match detail {
                    Some(serde_json::Value::Array(items)) => items
                        .iter()
                        .map(|item| {
                            serde_json::from_value::<FieldProblem>(item.clone()).unwrap_or(FieldProblem {
                                loc: Vec::new(),
                                msg: item.to_string(),
                                kind: None,
                            })
                        })
                        .collect(),
                    _ => vec![FieldProblem { loc: Vec::new(), msg: text, kind: None }],
                };
                Mem7Error::Validation { op, status, problems }
            }
            401 => Mem7Error::Authentication { op, message: text },
            403 => Mem7Error::Forbidden { op, message: text },
            404 => Mem7Error::NotFound { op, message: text },
            502 | 503 | 504 | 507 => Mem7Error::Provider {
                op,
                status,
                provider: parsed.as_ref().and_then(|v| v.get("provider")).and_then(|p| p.as_str()).map(String::from),
                message: text,
            },
            _ => Mem7Error::Http { op, status, message: text },
        }
    }
}

impl fmt::Display for Mem7Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mem7Error::Validation { op, problems, .. } => {
                write!(f, "{}: invalid input: ", op)?;
                for (i, p) in problems.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{}", p)?;
                }
                Ok(())
            }
            Mem7Error::Authentication { op, message } => write!(
                f,
                "{}: not authenticated ({}): pass the server's bearer token with RemoteConfig::with_token",
                op, message
            ),
            Mem7Error::Forbidden { op, message } => write!(f, "{}: forbidden: {}", op, message),
            Mem7Error::NotFound { op, message } => write!(f, "{}: not found: {}", op, message),
            Mem7Error::Provider { op, status, provider, message } => match provider {
                Some(p) => write!(f, "{}: provider {} failed (HTTP {}): {}", op, p, status, message),
                None => write!(f, "{}: a provider failed (HTTP {}): {}", op, status, message),
            },
            Mem7Error::Http { op, status, message } => write!(f, "{}: HTTP {}: {}", op, status, message),
            Mem7Error::Connection { op, url, message } => {
                write!(f, "{}: cannot reach the mem7 server at {} ({})", op, url, message)
            }
            Mem7Error::ServerStart(message) => write!(f, "mem7 serve did not start: {}", message),
            Mem7Error::Config(message) => write!(f, "Configuration error: {}", message),
            Mem7Error::Serialization { op, message } => {
                write!(f, "{}: Serialization error: unexpected answer from the server: {}", op, message)
            }
        }
    }
}

impl std::error::Error for Mem7Error {}

/// `Result<T, Mem7Error>`, as in the original mem7 crate.
pub type Result<T> = std::result::Result<T, Mem7Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_422_body_names_each_field() {
        let body = br#"{"detail":[{"type":"greater_than_equal","loc":["body","limit"],"msg":"Input should be greater than or equal to 1","input":0}]}"#;
        let err = Mem7Error::from_response("search", 422, body);
        assert_eq!(err.status(), Some(422));
        assert_eq!(err.problems().len(), 1);
        assert_eq!(err.problems()[0].field(), "limit");
        assert_eq!(err.problems()[0].kind.as_deref(), Some("greater_than_equal"));
        assert_eq!(err.to_string(), "search: invalid input: limit: Input should be greater than or equal to 1");
    }

    #[test]
    fn nested_locations_and_plain_details() {
        let body = br#"{"detail":[{"loc":["body","messages",0,"content"],"msg":"too long"}]}"#;
        let err = Mem7Error::from_response("add", 422, body);
        assert_eq!(err.problems()[0].field(), "messages.0.content");
        let body = br#"{"detail":[{"loc":["body","messages","str"],"msg":"a"},
            {"loc":["body","messages","list[union[str,Message]]",0,"Message","role"],"msg":"b"}]}"#;
        let err = Mem7Error::from_response("add", 422, body);
        let fields: Vec<String> = err.problems().iter().map(FieldProblem::field).collect();
        assert_eq!(fields, ["messages", "messages.0.role"]);
        let err = Mem7Error::from_response("add", 400, br#"{"detail":"Invalid JSON body"}"#);
        assert_eq!(err.problems()[0].field(), "");
        assert_eq!(err.to_string(), "add: invalid input: Invalid JSON body");
    }

    #[test]
    fn statuses_map_to_variants() {
        let e = Mem7Error::from_response("get", 404, br#"{"detail":"Memory 'x' not found"}"#);
        assert!(matches!(&e, Mem7Error::NotFound { message, .. } if message == "Memory 'x' not found"));
        let e = Mem7Error::from_response("add", 503, br#"{"detail":"rate limited","provider":"llm:openai"}"#);
        assert!(matches!(&e, Mem7Error::Provider { provider: Some(p), .. } if p == "llm:openai"));
        assert!(e.is_retryable());
        let e = Mem7Error::from_response("add", 502, br#"{"detail":"boom","provider":"llm:openai"}"#);
        assert!(!e.is_retryable());
        let e = Mem7Error::from_response("reset", 403, br#"{"detail":"pinned"}"#);
        assert!(matches!(e, Mem7Error::Forbidden { .. }));
        let e = Mem7Error::from_response("get_all", 401, b"");
        assert!(matches!(&e, Mem7Error::Authentication { message, .. } if message == "HTTP 401"));
        assert!(e.to_string().contains("with_token"), "{}", e);
        let e = Mem7Error::from_response("add", 500, b"Internal Server Error");
        assert!(matches!(&e, Mem7Error::Http { status: 500, message, .. } if message == "Internal Server Error"));
    }
}
