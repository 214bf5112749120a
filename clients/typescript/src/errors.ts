/**
 * Errors thrown by the client, one class per kind of failure the server reports, so callers can
 * tell bad input (ValidationError) from a missing memory (NotFoundError) or a failing provider
 * (ProviderError, which names it).
 */

/** One problem of a 422 response: where (`loc`, e.g. `["body", "limit"]`) and what. */
export interface FieldProblem {
  loc: Array<string | number>;
  msg: string;
  type?: string;
}

/** Base class: `status` is the HTTP status (0 when the server could not be reached). */
export class Mem7Error extends Error {
  readonly status: number;
  readonly body: unknown;

  constructor(message: string, status: number, body?: unknown) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.body = body;
  }
}

/** The server could not be reached (connection refused, DNS, timeout). */
export class ConnectionError extends Mem7Error {
  constructor(message: string) {
    super(message, 0);
  }
}

/** 401: no token, or one the server does not know. */
export class AuthenticationError extends Mem7Error {}

/** 403: the token is pinned to another scope (or may not call this operation). */
export class ForbiddenError extends Mem7Error {}

/** 404: no memory with this id in the caller's scope. */
export class NotFoundError extends Mem7Error {}

/** 400 / 422: bad input; `problems` name each field at fault. */
export class ValidationError extends Mem7Error {
  readonly problems: FieldProblem[];

  constructor(message: string, status: number, problems: FieldProblem[], body?: unknown) {
    super(message, status, body);
    this.problems = problems;
  }
}

/** 502 / 503: a provider (LLM, embedder, store...) failed; `provider` names it. 503 is retryable. */
export class ProviderError extends Mem7Error {
  readonly provider: string | undefined;
  readonly retryable: boolean;

  constructor(message: string, status: number, provider: string | undefined, body?: unknown) {
    super(message, status, body);
    this.provider = provider;
    this.retryable = status === 503;
  }
}

/**
 * The field a problem is about, dotted (`limit`, `messages.0.role`): its `loc` without the leading
 * place (`body`, `query`, `path`, `header`: only the first part, since a body field may be called
 * `query`) and without pydantic's union branch names (`str`, `Message`, `list[union[str,Message]]`).
 */
export function fieldOf(problem: FieldProblem): string {
  return problem.loc
    .filter((part, i) => {
      const text = String(part);
      const place = i === 0 && ["body", "query", "path", "header"].includes(text);
      const branch = typeof part === "string" &&
        (text.includes("[") || /^[A-Z]/.test(text) || ["str", "int", "float", "bool", "dict", "list", "none"].includes(text));
      return !place && !branch;
    })
    .join(".");
}

function describeProblems(problems: FieldProblem[]): string {
  const lines = problems.map((p) => {
    const where = fieldOf(p);
    return where ? `${where}: ${p.msg}` : p.msg;
  });
  return [...new Set(lines)].join("; ");  // union branches often repeat one message
}

/** The error for a non-2xx response (its JSON body already parsed, or `undefined`). */
export function errorFor(status: number, body: unknown, what: string): Mem7Error {
  const detail = (body as { detail?: unknown } | undefined)?.detail;
  if ((status === 422 || status === 400) && Array.isArray(detail)) {
    const problems = detail as FieldProblem[];
    return new ValidationError(`${what}: invalid input: ${describeProblems(problems)}`, status, problems, body);
  }
  const text = typeof detail === "string" ? detail : `HTTP ${status}`;
  const message = `${what}: ${text}`;
  switch (status) {
    case 400:
    case 422:
      return new ValidationError(message, status, [{ loc: [], msg: text }], body);
    case 401:
      return new AuthenticationError(message, status, body);
    case 403:
      return new ForbiddenError(message, status, body);
    case 404:
      return new NotFoundError(message, status, body);
    case 502:
    case 503:
      return new ProviderError(message, status, (body as { provider?: string } | undefined)?.provider, body);
    default:
      return new Mem7Error(message, status, body);
  }
}
