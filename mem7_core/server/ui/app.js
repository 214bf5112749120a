// The dashboard: the bearer token asked once (when the server needs one), then a hash router over the views.
import { api, ApiError, token, setToken, clearToken } from "./api.js";
import { scopeText } from "./dom.js";
import { scopesView, memoriesView, memoryView, searchView, graphView } from "./views.js";

const $ = (id) => document.getElementById(id);
const ctx = { session: null, viewName: "scopes" };

ctx.title = (text) => {
  $("title").textContent = text;
  document.title = `${text} · mem7`;
};
ctx.status = (text, error = false) => {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", error);
};
ctx.go = (hash) => {
  if (location.hash === hash) render();
  else location.hash = hash;
};
ctx.refresh = () => render(false);

/** The token dialog until the server accepts a token; resolves with the session. */
function askToken(problem) {
  const dialog = $("token-dialog");
  $("token-error").textContent = problem || "";
  $("token-input").value = "";
  if (!dialog.open) dialog.showModal();
  $("token-input").focus();
  return new Promise((resolve) => {
    $("token-form").addEventListener(
      "submit",
      (event) => {
        event.preventDefault();
        setToken($("token-input").value.trim());
        dialog.close();
        resolve(startSession());
      },
      { once: true },
    );
  });
}

async function startSession() {
  try {
    ctx.session = await api("ui/api/session");
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      const had = token();
      clearToken();
      return askToken(had ? `The server refused this token (${e.message}).` : "");
    }
    throw e;
  }
  const s = ctx.session;
  $("who").textContent = !s.auth ? "open server (no token needed)" : s.pin ? `pinned to ${scopeText(s.pin)}` : "unrestricted token";
  $("signout").hidden = !s.auth;
  $("nav-graph").parentElement.hidden = !s.graph;
  return s;
}

const ROUTES = {
  scopes: (view, params) => scopesView(ctx, view, params),
  memories: (view, params) => memoriesView(ctx, view, params),
  memory: (view, params, id) => memoryView(ctx, view, params, id),
  search: (view, params) => searchView(ctx, view, params),
  graph: (view, params) => graphView(ctx, view, params),
};

let generation = 0;

async function render(focus = true) {
  const hash = location.hash.startsWith("#/") ? location.hash.slice(2) : "scopes";
  const [path, query = ""] = hash.split("?");
  const [name, ...rest] = path.split("/");
  const route = ROUTES[name] ? name : "scopes";
  ctx.viewName = route;
  const params = new URLSearchParams(query);
  for (const a of document.querySelectorAll("nav a[data-view]")) {
    if (a.dataset.view === route || (route === "memory" && a.dataset.view === "memories")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const mine = ++generation;
  const view = document.createElement("div");
  view.className = "view";
  view.id = "view";
  view.setAttribute("aria-busy", "true");
  if (focus) ctx.status("");
  try {
    await ROUTES[route](view, params, decodeURIComponent(rest.join("/")));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      await askToken(`The server refused the token (${e.message}).`);
      return render(focus);
    }
    const p = document.createElement("p");
    p.className = "error";
    p.setAttribute("role", "alert");
    p.dataset.testid = "view-error";
    p.textContent = e instanceof ApiError ? `${e.status}: ${e.message}` : String(e);
    view.append(p);
  }
  if (mine !== generation) return; // a newer navigation won
  view.removeAttribute("aria-busy");
  $("view").replaceWith(view);
  document.body.dataset.ready = route;
  if (focus) $("main").focus({ preventScroll: true });
}

// Escape would close the token dialog and leave nothing to do: it stays until a token is given.
$("token-dialog").addEventListener("cancel", (event) => event.preventDefault());
$("signout").addEventListener("click", () => {
  clearToken();
  location.reload();
});
$("skip").addEventListener("click", (event) => {
  event.preventDefault();
  $("main").focus();
});

window.addEventListener("hashchange", () => render());
startSession()
  .then(() => render(false))
  .catch((e) => ctx.status(`Cannot reach the server: ${e.message}`, true));
