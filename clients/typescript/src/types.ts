/**
 * The shapes the mem7 REST server returns: the Python API's results, as JSON (snake_case keys,
 * unset optional fields left out). See docs/server.md and spec §1.
 */

export type MemoryType = "factual" | "preference" | "procedural" | "episodic";
export type TaskType = "troubleshooting" | "design" | "factual_lookup" | "planning" | "general";
export type MemoryEvent = "ADD" | "UPDATE" | "DELETE";
export type Role = "system" | "user" | "assistant" | "tool";

/** One chat message; `content` may be a list of parts (text, `image_url`). */
export interface Message {
  role?: Role;
  content: string | Array<Record<string, unknown>>;
  name?: string;
}

/** What `add` accepts: a string (one user message), one message, or a list of them. */
export type Messages = string | Message | Array<string | Message>;

/** Metadata filters (spec §7): `{k: v}`, `{k: {op: v}}`, `{AND|OR|NOT: [...]}`. */
export type Filters = Record<string, unknown>;

/** A stored memory, as returned by get / getAll / search. */
export interface MemoryItem {
  id: string;
  memory: string;
  text: string;
  hash: string;
  user_id?: string;
  agent_id?: string;
  run_id?: string;
  created_at?: string;
  updated_at?: string;
  last_accessed_at?: string;
  access_count: number;
  metadata?: Record<string, unknown>;
  score?: number;
  actor_id?: string;
  role?: string;
  memory_type?: MemoryType;
  /** With `explain`: the named numbers behind `score` (`dense`, `keyword`, `decay`, `context`, `rerank`...). */
  score_parts?: Record<string, number>;
  /** With `explain`: from 0, apply these in order to get `score`. */
  score_steps?: ScoreStep[];
}

/** One step of a search result's score (`explain`): `add`, `multiply` by, or `set` to `value`; `score` after it. */
export interface ScoreStep {
  step: string;
  op: "add" | "multiply" | "set";
  value: number;
  score: number;
}

/** One change `add` made. */
export interface ActionResult {
  id: string;
  memory: string;
  event: MemoryEvent;
  action: MemoryEvent;
  old_value?: string;
  new_value?: string;
}

/** A graph triple (with a score when it comes from search). */
export interface Relation {
  source: string;
  relationship: string;
  destination: string;
  score?: number;
}

/** Calls and tokens of one model in a {@link UsageReport}; a token count absent: not reported. */
export interface ModelUsage {
  kind: "llm" | "embedder";
  provider: string;
  model?: string;
  calls: number;
  /** Texts embedded (embedders). */
  texts: number;
  prompt_tokens?: number;
  completion_tokens?: number;
  embedding_tokens?: number;
}

/** What an operation's model calls used (its `usage`, absent when it called no model). */
export interface UsageReport {
  calls: number;
  prompt_tokens: number;
  completion_tokens: number;
  embedding_tokens: number;
  total_tokens: number;
  models: ModelUsage[];
}

export interface AddResult {
  results: ActionResult[];
  relations: Relation[];
  /** Set when the graph path failed and the memory changes in `results` were kept. */
  graph_error?: string;
  usage?: UsageReport;
}

export interface SearchResult {
  results: MemoryItem[];
  memories: MemoryItem[];
  relations: Relation[];
  usage?: UsageReport;
}

export interface ListResult {
  results: MemoryItem[];
  memories: MemoryItem[];
  relations?: Relation[];
}

export interface MessageResult {
  message: string;
  /** `update`: the new text's embedding call. */
  usage?: UsageReport;
}

/** One audit row of a memory's history. */
export interface HistoryEvent {
  id: string;
  memory_id: string;
  old_memory?: string;
  new_memory?: string;
  event: MemoryEvent;
  created_at: string;
  updated_at?: string;
  is_deleted: boolean;
  actor_id?: string;
  role?: string;
  /** The `timestamp` the change's add was given (`created_at` is when it was written); only then. */
  stated_at?: string;
}

export interface Health {
  status: "ok";
  version: string;
}

/** Who a memory belongs to. add / search / getAll / deleteAll need at least one id (or a pinned token). */
export interface Scope {
  userId?: string;
  agentId?: string;
  runId?: string;
}

export interface AddOptions extends Scope {
  metadata?: Record<string, unknown>;
  /** `false` stores the messages verbatim, without the LLM. Default `true`. */
  infer?: boolean;
  memoryType?: MemoryType;
  /** A fact-extraction prompt for this call only. */
  prompt?: string;
  /** Scope ids the mem0 way (`{user_id: ...}`). */
  filters?: Filters;
  /**
   * When the conversation happened, for importing an old one (default: now): a `Date`, an ISO-8601
   * string (no offset means UTC; a date alone means its midnight UTC) or Unix epoch seconds (not
   * milliseconds: `Date.now()` is refused; pass a `Date`). Dates the memories this add writes and
   * the LLM's "today"; history keeps it as `stated_at`.
   */
  timestamp?: Date | string | number;
}

export interface SearchOptions extends Scope {
  /** At most this many results (server default 100). */
  limit?: number;
  filters?: Filters;
  /** Use the configured reranker (default `true`). */
  rerank?: boolean;
  /** Drop results whose final score is below it. */
  threshold?: number;
  /** Skip query classification and use this task type for context scoring. */
  taskType?: TaskType;
  /**
   * Search as of this time (default: now), in the same forms as `timestamp` on add: what "last
   * week" in the query counts from, and the decay clock.
   */
  now?: Date | string | number;
  /** Give each result `score_parts` and `score_steps`: why it scored what it scored. */
  explain?: boolean;
  /** Default true: with decay on, the search counts as an access of what it returns; false only looks. */
  rehearse?: boolean;
}

export interface GetAllOptions extends Scope {
  limit?: number;
  filters?: Filters;
}

export interface DeleteAllOptions extends Scope {
  filters?: Filters;
}

export interface UpdateOptions extends Scope {
  /** Merged into the memory's own metadata. */
  metadata?: Record<string, unknown>;
}
