/**
 * `MemoryEngine`: the mem7 API (add, search, getAll, get, update, delete, deleteAll, history,
 * reset) over the REST server started by `mem7 serve`. Results have the Python API's shapes.
 *
 * Method options use camelCase (`userId`); results keep the server's snake_case keys, so a result
 * reads the same in Python, over HTTP and here. Uses the global `fetch` (Node >= 18, browsers).
 */

import { ConnectionError, Mem7Error, errorFor } from "./errors.js";
import type {
  AddOptions,
  AddResult,
  DeleteAllOptions,
  GetAllOptions,
  Health,
  HistoryEvent,
  ListResult,
  MemoryItem,
  MessageResult,
  Messages,
  Scope,
  SearchOptions,
  SearchResult,
  UpdateOptions,
} from "./types.js";

export interface MemoryEngineOptions {
  /** The server's address, e.g. `http://127.0.0.1:8000`. */
  baseUrl: string;
  /** Bearer token, when the server has tokens configured. */
  token?: string;
  /** Per-request timeout in milliseconds (default 60 000: an `add` with an LLM makes two LLM calls). */
  timeoutMs?: number;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
  /** A `fetch` implementation (default: the global one). */
  fetch?: typeof fetch;
}

type Query = Record<string, string | number | undefined>;

function scopeBody(scope: Scope): Record<string, string | undefined> {
  return { user_id: scope.userId, agent_id: scope.agentId, run_id: scope.runId };
}

function scopeQuery(scope: Scope): Query {
  return { user_id: scope.userId, agent_id: scope.agentId, run_id: scope.runId };
}

function defined<T extends Record<string, unknown>>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export class MemoryEngine {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof fetch;

  /** Prefer {@link MemoryEngine.create}, which also checks the server is up. */
  constructor(options: MemoryEngineOptions) {
    if (!options || typeof options.baseUrl !== "string" || !/^https?:\/\//.test(options.baseUrl)) {
      throw new TypeError(`baseUrl must be an http(s) URL, e.g. "http://127.0.0.1:8000", got ${JSON.stringify(options?.baseUrl)}`);
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#headers = { ...(options.headers ?? {}) };
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== "function") {
      throw new TypeError("no fetch available: use Node >= 18 or pass options.fetch");
    }
    this.#fetch = f;
  }

  /** A client for the server at `baseUrl`, after checking `GET /health` answers. */
  static async create(options: MemoryEngineOptions): Promise<MemoryEngine> {
    const engine = new MemoryEngine(options);
    await engine.health();
    return engine;
  }

  /** `GET /health` (no auth needed). */
  async health(): Promise<Health> {
    return this.#request<Health>("GET", "/health", "health");
  }

  /** Remember what matters in `messages` (LLM fact extraction unless `infer: false`). */
  async add(messages: Messages, options: AddOptions = {}): Promise<AddResult> {
    return this.#request<AddResult>("POST", "/memories", "add", {
      body: defined({
        messages,
        ...scopeBody(options),
        metadata: options.metadata,
        infer: options.infer,
        memory_type: options.memoryType,
        prompt: options.prompt,
        filters: options.filters,
      }),
    });
  }

  /** The memories of the scope most relevant to `query`, best first. */
  async search(query: string, options: SearchOptions = {}): Promise<SearchResult> {
    return this.#request<SearchResult>("POST", "/memories/search", "search", {
      body: defined({
        query,
        ...scopeBody(options),
        limit: options.limit,
        filters: options.filters,
        rerank: options.rerank,
        threshold: options.threshold,
        task_type: options.taskType,
      }),
    });
  }

  /** The memories of a scope, oldest first. */
  async getAll(options: GetAllOptions = {}): Promise<ListResult> {
    return this.#request<ListResult>("GET", "/memories", "getAll", {
      query: {
        ...scopeQuery(options),
        limit: options.limit,
        filters: options.filters === undefined ? undefined : JSON.stringify(options.filters),
      },
    });
  }

  /** One memory by id, or `null` (also when it belongs to another scope than the one given / pinned). */
  async get(memoryId: string, options: Scope = {}): Promise<MemoryItem | null> {
    try {
      return await this.#request<MemoryItem>("GET", `/memories/${encodeURIComponent(memoryId)}`, "get", {
        query: scopeQuery(options),
      });
    } catch (err) {
      if (err instanceof Mem7Error && err.status === 404) return null;
      throw err;
    }
  }

  /** Replace a memory's text (re-embedded) and merge `metadata` into its own. Throws NotFoundError. */
  async update(memoryId: string, text: string, options: UpdateOptions = {}): Promise<MessageResult> {
    return this.#request<MessageResult>("PUT", `/memories/${encodeURIComponent(memoryId)}`, "update", {
      body: defined({ text, metadata: options.metadata, ...scopeBody(options) }),
    });
  }

  /** Delete one memory (its history keeps a DELETE event). Throws NotFoundError. */
  async delete(memoryId: string, options: Scope = {}): Promise<MessageResult> {
    return this.#request<MessageResult>("DELETE", `/memories/${encodeURIComponent(memoryId)}`, "delete", {
      query: scopeQuery(options),
    });
  }

  /** Delete every memory of a scope (a scope is required; `reset()` wipes everything). */
  async deleteAll(options: DeleteAllOptions = {}): Promise<MessageResult> {
    return this.#request<MessageResult>("DELETE", "/memories", "deleteAll", {
      query: {
        ...scopeQuery(options),
        filters: options.filters === undefined ? undefined : JSON.stringify(options.filters),
      },
    });
  }

  /** A memory's ADD / UPDATE / DELETE events, oldest first (`[]` for an unknown id, as in Python). */
  async history(memoryId: string, options: Scope = {}): Promise<HistoryEvent[]> {
    try {
      return await this.#request<HistoryEvent[]>(
        "GET",
        `/memories/${encodeURIComponent(memoryId)}/history`,
        "history",
        { query: scopeQuery(options) },
      );
    } catch (err) {
      if (err instanceof Mem7Error && err.status === 404) return [];
      throw err;
    }
  }

  /** Delete every memory and history event (needs a token not pinned to a scope). */
  async reset(): Promise<MessageResult> {
    return this.#request<MessageResult>("POST", "/reset", "reset");
  }

  async #request<T>(
    method: string,
    path: string,
    what: string,
    options: { body?: unknown; query?: Query } = {},
  ): Promise<T> {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { Accept: "application/json", ...this.#headers };
    if (this.#token) headers.Authorization = `Bearer ${this.#token}`;
    let payload: string | undefined;
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(options.body);
    }
    let response: Response;
    try {
      response = await this.#fetch(url, {
        method,
        headers,
        body: payload,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      const reason = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
      throw new ConnectionError(`${what}: cannot reach the mem7 server at ${this.baseUrl} (${reason})`);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      throw errorFor(response.status, parsed ?? { detail: text || response.statusText }, what);
    }
    return parsed as T;
  }
}
