/**
 * @mem7ai/mem7: a typed client for the mem7 REST server (`mem7 serve`).
 *
 * ```ts
 * import { MemoryEngine } from "@mem7ai/mem7";
 * const memory = await MemoryEngine.create({ baseUrl: "http://127.0.0.1:8000", token: process.env.MEM7_TOKEN });
 * await memory.add("I'm vegetarian", { userId: "alice" });
 * const { results } = await memory.search("what do I eat?", { userId: "alice" });
 * ```
 */

export { MemoryEngine } from "./client.js";
export type { MemoryEngineOptions } from "./client.js";
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
