/**
 * The original mem7 Node binding's contract (its `index.d.ts`): positional arguments, camelCase
 * results, `getAll` an array, actions `"Add" | "Update" | "Delete" | "None"`, `metadata` a JSON
 * string. Here: those result types and the conversions from the REST server's snake_case results.
 * (The original's config JSON needs no translation: the core reads its shape.)
 */

import type { ActionResult, HistoryEvent, MemoryItem, Relation } from "./types.js";

/** One chat message as the original takes it. */
export interface JsChatMessage {
  role: string;
  content: string;
}

export type JsMemoryAction = "Add" | "Update" | "Delete" | "None";

export interface JsMemoryActionResult {
  id: string;
  action: JsMemoryAction;
  oldValue?: string;
  newValue?: string;
}

export interface JsGraphRelation {
  source: string;
  relationship: string;
  destination: string;
  score?: number;
}

export interface JsAddResult {
  results: JsMemoryActionResult[];
  relations: JsGraphRelation[];
}

export interface JsMemoryItem {
  id: string;
  text: string;
  userId?: string;
  agentId?: string;
  runId?: string;
  actorId?: string;
  role?: string;
  /** The memory's metadata as a JSON string (`"null"` when it has none). */
  metadata: string;
  createdAt: string;
  updatedAt: string;
  score?: number;
  lastAccessedAt?: string;
  accessCount: number;
  memoryType?: string;
}

export interface JsSearchResult {
  memories: JsMemoryItem[];
  relations: JsGraphRelation[];
}

export interface JsMemoryEvent {
  id: string;
  memoryId: string;
  oldValue?: string;
  newValue?: string;
  action: JsMemoryAction;
  createdAt: string;
  updatedAt?: string;
  isDeleted: boolean;
  actorId?: string;
  role?: string;
}

// ------------------------------------------------------------------------------ result conversion

type Loose = Record<string, unknown>;

/** Copies `value` to `out[key]` unless it is null / undefined (the original leaves unset fields out). */
function put(out: Loose, key: string, value: unknown): void {
  if (value !== undefined && value !== null) out[key] = value;
}

function actionOf(event: unknown): JsMemoryAction {
  switch (String(event ?? "").toUpperCase()) {
    case "ADD":
      return "Add";
    case "UPDATE":
      return "Update";
    case "DELETE":
      return "Delete";
    default:
      return "None";
  }
}

export function toJsItem(item: MemoryItem): JsMemoryItem {
  const m = item as unknown as Loose;
  const out: Loose = { id: m.id, text: m.text ?? m.memory ?? "" };
  put(out, "userId", m.user_id);
  put(out, "agentId", m.agent_id);
  put(out, "runId", m.run_id);
  put(out, "actorId", m.actor_id);
  put(out, "role", m.role);
  out.metadata = JSON.stringify(m.metadata ?? null);
  out.createdAt = m.created_at ?? "";
  out.updatedAt = m.updated_at ?? m.created_at ?? "";
  put(out, "score", m.score);
  put(out, "lastAccessedAt", m.last_accessed_at);
  out.accessCount = typeof m.access_count === "number" ? m.access_count : 0;
  put(out, "memoryType", m.memory_type);
  return out as unknown as JsMemoryItem;
}

export function toJsAction(result: ActionResult): JsMemoryActionResult {
  const r = result as unknown as Loose;
  const out: Loose = { id: r.id, action: actionOf(r.event ?? r.action) };
  put(out, "oldValue", r.old_value);
  put(out, "newValue", r.new_value);
  return out as unknown as JsMemoryActionResult;
}

export function toJsRelation(relation: Relation): JsGraphRelation {
  const out: Loose = {
    source: relation.source,
    relationship: relation.relationship,
    destination: relation.destination,
  };
  put(out, "score", relation.score);
  return out as unknown as JsGraphRelation;
}

export function toJsEvent(event: HistoryEvent): JsMemoryEvent {
  const e = event as unknown as Loose;
  const out: Loose = { id: e.id, memoryId: e.memory_id };
  put(out, "oldValue", e.old_memory);
  put(out, "newValue", e.new_memory);
  out.action = actionOf(e.event);
  out.createdAt = e.created_at ?? "";
  put(out, "updatedAt", e.updated_at);
  out.isDeleted = Boolean(e.is_deleted);
  put(out, "actorId", e.actor_id);
  put(out, "role", e.role);
  return out as unknown as JsMemoryEvent;
}

/** A JSON string argument (`metadata`, `filters`), or an object given directly. */
export function parseJsonArg(value: unknown, what: string): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch (err) {
      throw new TypeError(`Invalid ${what} JSON: ${(err as Error).message}`);
    }
    if (parsed === null) return undefined;
    if (typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new TypeError(`Invalid ${what} JSON: expected an object, got ${value}`);
    }
    return parsed as Record<string, unknown>;
  }
  if (typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
  throw new TypeError(`${what} must be a JSON string or an object, got ${typeof value}`);
}
