// The REST API, called with the bearer token kept in this tab's sessionStorage.
// URLs are relative to the page (/ui/), so the dashboard works behind a path prefix too.

const TOKEN_KEY = "mem7.dashboard.token";

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export const token = () => sessionStorage.getItem(TOKEN_KEY);
export const setToken = (value) => sessionStorage.setItem(TOKEN_KEY, value);
export const clearToken = () => sessionStorage.removeItem(TOKEN_KEY);

/** A readable message from an error body: FastAPI's 422 list ("field: message") or {"detail"}. */
export function describe(status, body) {
  const detail = body && typeof body === "object" ? body.detail : body;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        const where = (d.loc || []).filter((p) => p !== "body" && p !== "query").join(".");
        return where ? `${where}: ${d.msg}` : d.msg;
      })
      .join("; ");
  }
  if (typeof detail === "string" && detail) return detail;
  return `HTTP ${status}`;
}

/** ``path`` relative to the API root: "ui/api/scopes", "memories/ID"... */
export function url(path, query) {
  const u = new URL(`../${path}`, document.baseURI);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") u.searchParams.set(key, String(value));
  }
  return u;
}

export async function api(path, { method = "GET", query, body } = {}) {
  const headers = { Accept: "application/json" };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url(path, query), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!response.ok) throw new ApiError(response.status, describe(response.status, data), data);
  return data;
}
