/**
 * @mem7ai/mem7: a typed client for the mem7 REST server (`mem7 serve`), and the original mem7 Node
 * binding's calling convention on a local `mem7 serve` it starts and owns.
 *
 * ```ts
 * import { MemoryEngine } from "@mem7ai/mem7";
 * // REST style: a running server, options objects, snake_case results.
 * const memory = await MemoryEngine.create({ baseUrl: "http://127.0.0.1:8000", token: process.env.MEM7_TOKEN });
 * await memory.add("I'm vegetarian", { userId: "alice" });
 * const { results } = await memory.search("what do I eat?", { userId: "alice" });
 *
 * // The original's style: a config JSON, positional arguments, camelCase results.
 * const engine = await MemoryEngine.create(JSON.stringify({ llm: {...}, embedding: {...} }));
 * await engine.add([{ role: "user", content: "I love tennis." }], "alice");
 * const { memories } = await engine.search("What sports?", "alice");
 * await engine.close();
 * ```
 */

export { MemoryEngine } from "./client.js";
export type { CallStyle, MemoryEngineOptions, Styled } from "./client.js";
export { ServerStartError, findMem7 } from "./local.js";
export type { LocalServerOptions } from "./local.js";
export type {
  JsAddResult,
  JsChatMessage,
  JsGraphRelation,
  JsMemoryAction,
  JsMemoryActionResult,
  JsMemoryEvent,
  JsMemoryItem,
  JsSearchResult,
} from "./original.js";
export {
  AuthenticationError,
  ConnectionError,
  ForbiddenError,
  Mem7Error,
  NotFoundError,
  ProviderError,
  ValidationError,
} from "./errors.js";
export type { FieldProblem } from "./errors.js";
export type * from "./types.js";
