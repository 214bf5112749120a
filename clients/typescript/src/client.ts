/**
 * `MemoryEngine`: the mem7 API (add, search, getAll, get, update, delete, deleteAll, history,
 * reset) over the REST server started by `mem7 serve`, in two call styles:
 *
 * - **REST style** (`MemoryEngine.create({baseUrl, token})`, options objects): camelCase options
 *   (`{userId}`), results with the Python API's shapes and snake_case keys, so a result reads the
 *   same in Python, over HTTP and here.
 * - **Original style** (`MemoryEngine.create(configJson)`, the original mem7 Node binding's
 *   contract): the engine starts and owns a local `mem7 serve` with that config; positional
 *   arguments (`add(messages, "alice")`, `search(q, "alice", agentId, runId, limit, filtersJson,
 *   rerank, threshold, taskType)`, `getAll("alice")`), camelCase results, `getAll` an array,
 *   actions `"Add" | "Update" | "Delete" | "None"`, `metadata` a JSON string.
 *
 * A call picks its style by its arguments (an options object: REST; positional scope ids: original).
 * A call whose arguments say neither (`get(id)`, `getAll()`, `reset()`...) uses the engine's
 * `style`: `"original"` for an engine made from a config JSON, `"rest"` otherwise.
 * Uses the global `fetch` (Node >= 18, browsers).
 */

import { ConnectionError, Mem7Error, NotFoundError, errorFor } from "./errors.js";
import { LocalServer, type LocalServerOptions } from "./local.js";
import {
  parseJsonArg,
  toJsAction,
  toJsEvent,
  toJsItem,
  toJsRelation,
  type JsAddResult,
  type JsChatMessage,
  type JsMemoryEvent,
  type JsMemoryItem,
  type JsSearchResult,
} from "./original.js";
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
  TaskType,
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
  /**
   * The result shapes of calls whose arguments do not pick a style (`get(id)`, `getAll()`,
   * `reset()`...): `"rest"` (default) or `"original"` (the original mem7 binding's camelCase shapes).
   */
  style?: CallStyle;
}

/** `"rest"`: snake_case results as over HTTP; `"original"`: the original mem7 Node binding's shapes. */
export type CallStyle = "rest" | "original";

/** The original's maximum for "no limit" (`getAll` without a limit): the server's largest page. */
const ALL = 10_000;
/** The original binding's default `search` limit. */
const ORIGINAL_SEARCH_LIMIT = 5;

function isOptions(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** undefined / null → undefined (the original's optional positional arguments accept both). */
function opt<T>(value: T | null | undefined): T | undefined {
  return value === null ? undefined : value;
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

/** `O` on an original-style engine, `R` on a REST-style one (both when the style is not known). */
export type Styled<S extends CallStyle, O, R> = S extends "original" ? O : R;

export class MemoryEngine<S extends CallStyle = "rest"> {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof fetch;
  readonly #server: LocalServer | undefined;
  /** The result shapes of calls whose arguments do not pick a style. */
  readonly style: S;

  /** Prefer {@link MemoryEngine.create}, which also checks the server is up. */
  constructor(options: MemoryEngineOptions, server?: LocalServer) {
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
    this.#server = server;
    this.style = (options.style ?? (server ? "original" : "rest")) as S;
  }

  /** A client for the server at `baseUrl`, after checking `GET /health` answers. */
  static async create<T extends CallStyle = "rest">(options: MemoryEngineOptions & { style?: T }): Promise<MemoryEngine<T>>;
  /**
   * The original mem7's constructor: an engine on a local `mem7 serve` started with this config
   * (the original's JSON: `llm`, `embedding`, `vector`, `history`, `decay`, `context`, ...; or the
   * core's / mem0's shape). The server is the `mem7` console script (`options.mem7Bin`, else
   * `$MEM7_BIN`, else `mem7` on `PATH`) on a free loopback port with a random bearer token; it
   * stops on {@link MemoryEngine.close} or when this process exits.
   */
  static async create(configJson?: string | null, options?: LocalServerOptions): Promise<MemoryEngine<"original">>;
  static async create(
    config?: MemoryEngineOptions | string | null,
    localOptions: LocalServerOptions = {},
  ): Promise<MemoryEngine<CallStyle>> {
    if (config === undefined || config === null || typeof config === "string") {
      return MemoryEngine.#startLocal(config, localOptions);
    }
    const engine = new MemoryEngine<CallStyle>(config);
    await engine.health();
    return engine;
  }

  static async #startLocal(
    configJson: string | null | undefined,
    options: LocalServerOptions,
  ): Promise<MemoryEngine<"original">> {
    let coreJson: string | undefined;
    if (configJson !== undefined && configJson !== null) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(configJson);
      } catch (err) {
        throw new TypeError(`Invalid config: ${(err as Error).message}`);
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw new TypeError("Invalid config: expected a JSON object");
      }
      coreJson = configJson; // the core reads the original's shape (and mem0's, and its own)
    }
    const server = await LocalServer.start(coreJson, options);
    const engine = new MemoryEngine<"original">(
      { baseUrl: server.url, token: server.token, timeoutMs: options.timeoutMs, style: "original" },
      server,
    );
    try {
      await engine.health();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return engine;
  }

  /**
   * Stop the local `mem7 serve` this engine started (graceful: the engine is closed). Resolves
   * with its exit code; a no-op (`null`) for an engine on a server it does not own.
   */
  async close(): Promise<number | null> {
    return this.#server ? this.#server.stop() : null;
  }

  /** The process id of the local `mem7 serve` this engine owns (`undefined` for a REST engine). */
  get serverPid(): number | undefined {
    return this.#server?.pid;
  }

  /** The local server's process has exited (only for engines made from a config). */
  get closed(): boolean {
    return this.#server?.exited ?? false;
  }

  /** `GET /health` (no auth needed). */
  async health(): Promise<Health> {
    return this.#request<Health>("GET", "/health", "health");
  }

  /** Remember what matters in `messages` (LLM fact extraction unless `infer: false`). */
  async add(messages: Messages | JsChatMessage[]): Promise<Styled<S, JsAddResult, AddResult>>;
  async add(messages: Messages, options: AddOptions): Promise<AddResult>;
  /** The original's `add(messages, userId?, agentId?, runId?, metadataJson?, infer?)`. */
  async add(
    messages: JsChatMessage[] | Messages,
    userId: string | null | undefined,
    agentId?: string | null,
    runId?: string | null,
    metadata?: string | null,
    infer?: boolean | null,
  ): Promise<JsAddResult>;
  async add(messages: Messages | JsChatMessage[], ...args: unknown[]): Promise<any> {
    if (!this.#original(args)) {
      const options = (args[0] ?? {}) as AddOptions;
      return this.#request<AddResult>("POST", "/memories", "add", {
        body: defined({
          messages,
          ...scopeBody(options),
          metadata: options.metadata,
          infer: options.infer,
          memory_type: options.memoryType,
          prompt: options.prompt,
          filters: options.filters,
          timestamp: options.timestamp instanceof Date ? options.timestamp.toISOString() : options.timestamp,
        }),
      });
    }
    const [userId, agentId, runId, metadata, infer] = args as [string?, string?, string?, unknown?, boolean?];
    const result = await this.#request<AddResult>("POST", "/memories", "add", {
      body: defined({
        messages: messages as Messages,
        ...scopeBody({ userId: opt(userId), agentId: opt(agentId), runId: opt(runId) }),
        metadata: parseJsonArg(metadata, "metadata"),
        infer: opt(infer),
      }),
    });
    return {
      results: (result.results ?? []).map(toJsAction),
      relations: (result.relations ?? []).map(toJsRelation),
    };
  }

  /** The memories of the scope most relevant to `query`, best first. */
  async search(query: string): Promise<Styled<S, JsSearchResult, SearchResult>>;
  async search(query: string, options: SearchOptions): Promise<SearchResult>;
  /**
   * The original's `search(query, userId?, agentId?, runId?, limit? = 5, filtersJson?, rerank?,
   * threshold?, taskType?)`. A string in the `threshold` position is taken as the task type (the
   * original's website passes it there).
   */
  async search(
    query: string,
    userId: string | null | undefined,
    agentId?: string | null,
    runId?: string | null,
    limit?: number | null,
    filters?: string | null,
    rerank?: boolean | null,
    threshold?: number | string | null,
    taskType?: TaskType | string | null,
  ): Promise<JsSearchResult>;
  async search(query: string, ...args: unknown[]): Promise<any> {
    if (!this.#original(args)) {
      const options = (args[0] ?? {}) as SearchOptions;
      return this.#request<SearchResult>("POST", "/memories/search", "search", {
        body: defined({
          query,
          ...scopeBody(options),
          limit: options.limit,
          filters: options.filters,
          rerank: options.rerank,
          threshold: options.threshold,
          task_type: options.taskType,
          now: options.now instanceof Date ? options.now.toISOString() : options.now,
          explain: options.explain,
          rehearse: options.rehearse,
        }),
      });
    }
    const [userId, agentId, runId, limit, filters, rerank, threshold, taskType] = args as [
      string?, string?, string?, number?, unknown?, boolean?, unknown?, string?,
    ];
    let task = opt(taskType);
    let minScore = opt(threshold);
    if (typeof minScore === "string") {
      if (task !== undefined) {
        throw new TypeError(`search: threshold must be a number, got ${JSON.stringify(minScore)}`);
      }
      task = minScore;
      minScore = undefined;
    }
    const result = await this.#request<SearchResult>("POST", "/memories/search", "search", {
      body: defined({
        query,
        ...scopeBody({ userId: opt(userId), agentId: opt(agentId), runId: opt(runId) }),
        limit: opt(limit) ?? ORIGINAL_SEARCH_LIMIT,
        filters: parseJsonArg(filters, "filters"),
        rerank: opt(rerank),
        threshold: minScore as number | undefined,
        task_type: task,
      }),
    });
    return {
      memories: (result.memories ?? result.results ?? []).map(toJsItem),
      relations: (result.relations ?? []).map(toJsRelation),
    };
  }

  /** The memories of a scope, oldest first. */
  async getAll(): Promise<Styled<S, JsMemoryItem[], ListResult>>;
  async getAll(options: GetAllOptions): Promise<ListResult>;
  /** The original's `getAll(userId?, agentId?, runId?, filtersJson?, limit?)`: an array. */
  async getAll(
    userId: string | null | undefined,
    agentId?: string | null,
    runId?: string | null,
    filters?: string | null,
    limit?: number | null,
  ): Promise<JsMemoryItem[]>;
  async getAll(...args: unknown[]): Promise<any> {
    if (!this.#original(args)) {
      const options = (args[0] ?? {}) as GetAllOptions;
      return this.#request<ListResult>("GET", "/memories", "getAll", {
        query: {
          ...scopeQuery(options),
          limit: options.limit,
          filters: options.filters === undefined ? undefined : JSON.stringify(options.filters),
        },
      });
    }
    const [userId, agentId, runId, filters, limit] = args as [string?, string?, string?, unknown?, number?];
    const parsed = parseJsonArg(filters, "filters");
    const result = await this.#request<ListResult>("GET", "/memories", "getAll", {
      query: {
        ...scopeQuery({ userId: opt(userId), agentId: opt(agentId), runId: opt(runId) }),
        limit: opt(limit) ?? ALL,
        filters: parsed === undefined ? undefined : JSON.stringify(parsed),
      },
    });
    return (result.results ?? []).map(toJsItem);
  }

  /**
   * One memory by id. REST style: the item or `null` (also when it belongs to another scope than
   * the one given / pinned). Original style: the camelCase item; throws NotFoundError.
   */
  async get(memoryId: string): Promise<Styled<S, JsMemoryItem, MemoryItem | null>>;
  async get(memoryId: string, options: Scope): Promise<MemoryItem | null>;
  async get(memoryId: string, ...args: unknown[]): Promise<any> {
    const options = (isOptions(args[0]) ? args[0] : {}) as Scope;
    if (this.#original(args)) {
      const item = await this.#request<MemoryItem>("GET", `/memories/${encodeURIComponent(memoryId)}`, "get");
      return toJsItem(item);
    }
    try {
      return await this.#request<MemoryItem>("GET", `/memories/${encodeURIComponent(memoryId)}`, "get", {
        query: scopeQuery(options),
      });
    } catch (err) {
      if (err instanceof Mem7Error && err.status === 404) return null;
      throw err;
    }
  }

  /**
   * Replace a memory's text (re-embedded) and merge `metadata` into its own. Throws NotFoundError.
   * Original style (no options, on an original-style engine): resolves with nothing.
   */
  async update(memoryId: string, newText: string): Promise<Styled<S, void, MessageResult>>;
  async update(memoryId: string, text: string, options: UpdateOptions): Promise<MessageResult>;
  async update(memoryId: string, text: string, ...args: unknown[]): Promise<any> {
    const options = (isOptions(args[0]) ? args[0] : {}) as UpdateOptions;
    const result = await this.#request<MessageResult>("PUT", `/memories/${encodeURIComponent(memoryId)}`, "update", {
      body: defined({ text, metadata: options.metadata, ...scopeBody(options) }),
    });
    return this.#original(args) ? undefined : result;
  }

  /**
   * Delete one memory (its history keeps a DELETE event). REST style: throws NotFoundError.
   * Original style: resolves with nothing, also for an unknown id (as the original did).
   */
  async delete(memoryId: string): Promise<Styled<S, void, MessageResult>>;
  async delete(memoryId: string, options: Scope): Promise<MessageResult>;
  async delete(memoryId: string, ...args: unknown[]): Promise<any> {
    const options = (isOptions(args[0]) ? args[0] : {}) as Scope;
    const original = this.#original(args);
    try {
      const result = await this.#request<MessageResult>("DELETE", `/memories/${encodeURIComponent(memoryId)}`, "delete", {
        query: scopeQuery(options),
      });
      return original ? undefined : result;
    } catch (err) {
      if (original && err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** Delete every memory of a scope (a scope is required; `reset()` wipes everything). */
  async deleteAll(): Promise<Styled<S, void, MessageResult>>;
  async deleteAll(options: DeleteAllOptions): Promise<MessageResult>;
  /** The original's `deleteAll(userId?, agentId?, runId?)`: resolves with nothing. */
  async deleteAll(userId: string | null | undefined, agentId?: string | null, runId?: string | null): Promise<void>;
  async deleteAll(...args: unknown[]): Promise<any> {
    if (!this.#original(args)) {
      const options = (args[0] ?? {}) as DeleteAllOptions;
      return this.#request<MessageResult>("DELETE", "/memories", "deleteAll", {
        query: {
          ...scopeQuery(options),
          filters: options.filters === undefined ? undefined : JSON.stringify(options.filters),
        },
      });
    }
    const [userId, agentId, runId] = args as [string?, string?, string?];
    await this.#request<MessageResult>("DELETE", "/memories", "deleteAll", {
      query: scopeQuery({ userId: opt(userId), agentId: opt(agentId), runId: opt(runId) }),
    });
  }

  /**
   * A memory's ADD / UPDATE / DELETE events, oldest first (`[]` for an unknown id, as in Python).
   * Original style: camelCase events (`memoryId`, `oldValue`, `newValue`, `action: "Add"`...).
   */
  async history(memoryId: string): Promise<Styled<S, JsMemoryEvent[], HistoryEvent[]>>;
  async history(memoryId: string, options: Scope): Promise<HistoryEvent[]>;
  async history(memoryId: string, ...args: unknown[]): Promise<any> {
    const options = (isOptions(args[0]) ? args[0] : {}) as Scope;
    let events: HistoryEvent[];
    try {
      events = await this.#request<HistoryEvent[]>(
        "GET",
        `/memories/${encodeURIComponent(memoryId)}/history`,
        "history",
        { query: scopeQuery(options) },
      );
    } catch (err) {
      if (err instanceof Mem7Error && err.status === 404) events = [];
      else throw err;
    }
    return this.#original(args) ? events.map(toJsEvent) : events;
  }

  /** Delete every memory and history event (needs a token not pinned to a scope). */
  async reset(): Promise<Styled<S, void, MessageResult>> {
    const result = await this.#request<MessageResult>("POST", "/reset", "reset");
    return (this.style === "original" ? undefined : result) as Styled<S, void, MessageResult>;
  }

  /**
   * Whether a call with these arguments (after the first) is in the original's positional style:
   * an options object says REST, any positional value says original, nothing says `this.style`.
   */
  #original(args: unknown[]): boolean {
    if (isOptions(args[0])) return false;
    if (args.some((a) => a !== undefined)) return true;
    return this.style === "original";
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
      const dead = this.#server?.exited ? `; ${this.#server.describeExit()}` : "";
      throw new ConnectionError(`${what}: cannot reach the mem7 server at ${this.baseUrl} (${reason})${dead}`);
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
