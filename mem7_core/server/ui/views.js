// The dashboard's views. Each renders into the <div id="view"> it is given, from the REST API.
import { api, ApiError } from "./api.js";
import { h, when, num, scopeText, field, table } from "./dom.js";
import { retentionPlot, bar, graphPicture } from "./plots.js";

const SCOPE_KEYS = ["user_id", "agent_id", "run_id"];
const TYPES = ["factual", "preference", "procedural", "episodic"];
const EXPORT_LIMIT = 10000; // the API's largest page (GET /memories?limit=)

/** "#/memories?user_id=alice" */
export function link(view, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const qs = q.toString();
  return `#/${view}${qs ? `?${qs}` : ""}`;
}

/** The scope ids of ``params``, with the caller's pin applied: a pinned key always has the pinned value. */
function scopeOf(ctx, params) {
  const out = {};
  for (const k of SCOPE_KEYS) {
    const pinned = ctx.session.pin && ctx.session.pin[k];
    out[k] = pinned || params.get(k) || undefined;
  }
  return out;
}

/** A scope id that ``params`` asks for but the caller's pin forbids: [key, asked, pinned] or null. */
function outsidePin(ctx, params) {
  for (const k of SCOPE_KEYS) {
    const pinned = ctx.session.pin && ctx.session.pin[k];
    const asked = params.get(k);
    if (pinned && asked && asked !== pinned) return [k, asked, pinned];
  }
  return null;
}

function hasScope(scope) {
  return SCOPE_KEYS.some((k) => scope[k]);
}

/** Text inputs for user_id / agent_id / run_id; pinned ones read-only with the pinned value. */
function scopeFields(ctx, scope) {
  return SCOPE_KEYS.map((k) => {
    const pinned = ctx.session.pin && ctx.session.pin[k];
    const input = h("input", { name: k, id: `scope-${k}`, value: scope[k] || "", autocomplete: "off", readonly: Boolean(pinned) });
    return field(k, input, pinned ? "pinned by your token" : undefined);
  });
}

function message(view, text, kind = "note") {
  view.append(h("p", { class: kind, role: kind === "error" ? "alert" : undefined }, text));
}

function pinRefusal(ctx, view, params) {
  const bad = outsidePin(ctx, params);
  if (!bad) return false;
  const [k, asked, pinned] = bad;
  message(view, `This token is pinned to ${k}=${pinned}; it cannot show ${k}=${asked}.`, "error");
  view.append(h("p", {}, h("a", { href: link(ctx.viewName, { [k]: pinned }) }, `Show ${k}=${pinned} instead`)));
  return true;
}

// ------------------------------------------------------------------------------------ scopes
export async function scopesView(ctx, view) {
  ctx.title("Scopes");
  const data = await api("ui/api/scopes");
  if (ctx.session.pin) message(view, `Your token is pinned to ${scopeText(ctx.session.pin)}: only its memories are listed.`);
  view.append(h("p", { class: "summary", "data-testid": "scope-total" }, `${data.total} memories in all.`));
  const section = (title, key, rows) =>
    h(
      "section",
      { "aria-labelledby": `h-${key}`, class: "card" },
      h("h2", { id: `h-${key}` }, title),
      rows.length
        ? table(`${title} and their memory counts`, [key, "memories"],
            rows.map((r) => [h("a", { href: link("memories", { [key]: r.id }) }, r.id), String(r.count)]),
            { "data-testid": `scopes-${key}` })
        : h("p", { class: "note" }, "none"),
    );
  view.append(
    h("div", { class: "grid3" },
      section("Users", "user_id", data.users),
      section("Agents", "agent_id", data.agents),
      section("Runs", "run_id", data.runs)),
    h(
      "section",
      { "aria-labelledby": "h-exact", class: "card" },
      h("h2", { id: "h-exact" }, "Exact scopes"),
      table("Memory counts per exact scope", ["scope", "memories"],
        data.scopes.map((r) => [h("a", { href: link("memories", { user_id: r.user_id, agent_id: r.agent_id, run_id: r.run_id }) }, scopeText(r)), String(r.count)]),
        { "data-testid": "scopes-exact" }),
    ),
  );
}

// ------------------------------------------------------------------------------------ memories
function filtersOf(params) {
  const filters = {};
  const meta = params.get("meta");
  if (meta) {
    let parsed;
    try {
      parsed = JSON.parse(meta);
    } catch (e) {
      throw new ApiError(422, `metadata filter: not valid JSON (${e.message}); write e.g. {"topic": "food"}`);
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new ApiError(422, 'metadata filter: must be a JSON object, e.g. {"topic": "food"}');
    }
    Object.assign(filters, parsed);
  }
  if (params.get("type")) filters.memory_type = params.get("type");
  const created = {};
  if (params.get("from")) created.gte = params.get("from");
  if (params.get("to")) {
    const next = new Date(`${params.get("to")}T00:00:00Z`);
    if (!Number.isNaN(next.getTime())) created.lt = new Date(next.getTime() + 86400000).toISOString();
  }
  if (Object.keys(created).length) filters.created_at = created;
  return Object.keys(filters).length ? filters : null;
}

function filterForm(ctx, params, scope) {
  const form = h("form", { class: "filters card", "aria-label": "Scope and filters" });
  const meta = h("input", { name: "meta", value: params.get("meta") || "", placeholder: '{"topic": "food"}', autocomplete: "off", spellcheck: "false" });
  const type = h("select", { name: "type" }, h("option", { value: "" }, "any"), TYPES.map((t) => h("option", { value: t }, t)));
  type.value = params.get("type") || "";
  const from = h("input", { name: "from", type: "date", value: params.get("from") || "" });
  const to = h("input", { name: "to", type: "date", value: params.get("to") || "" });
  const size = h("select", { name: "size" }, [10, 20, 50, 100].map((n) => h("option", { value: n }, String(n))));
  size.value = params.get("size") || "20";
  form.append(
    h("div", { class: "row" }, scopeFields(ctx, scope)),
    h("div", { class: "row" },
      field("metadata filter (JSON)", meta, "mem7's filter language; scope ids go above"),
      field("memory type", type),
      field("created from", from),
      field("created until", to),
      field("per page", size)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Apply")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = {};
    for (const [k, v] of data.entries()) if (v) next[k] = v;
    ctx.go(link("memories", next));
  });
  return form;
}

async function confirmDelete(text) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  document.getElementById("confirm-cancel").focus();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

function download(name, text) {
  const blob = new Blob([text], { type: "application/x-ndjson" });
  const a = h("a", { href: URL.createObjectURL(blob), download: name, hidden: true });
  document.body.append(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 0);
}

export async function memoriesView(ctx, view, params) {
  ctx.title("Memories");
  if (pinRefusal(ctx, view, params)) return;
  const scope = scopeOf(ctx, params);
  view.append(filterForm(ctx, params, scope));
  if (!hasScope(scope)) {
    message(view, "Choose a scope: a user, agent or run id (or pick one on the Scopes page).");
    return;
  }
  const size = Number(params.get("size") || 20);
  const pageNo = Math.max(1, Number(params.get("page") || 1));
  const filters = filtersOf(params);
  const query = { ...scope, offset: (pageNo - 1) * size, limit: size, filters: filters ? JSON.stringify(filters) : undefined };
  const data = await api("ui/api/memories", { query });
  const first = data.total ? data.offset + 1 : 0;
  const last = data.offset + data.results.length;
  const status = h("p", { class: "summary", "data-testid": "page-status" }, `Showing ${first}–${last} of ${data.total}`);
  const exportButton = h("button", { type: "button", "data-testid": "export" }, "Export this view (JSONL)");
  exportButton.addEventListener("click", async () => {
    const all = await api("memories", { query: { ...scope, limit: EXPORT_LIMIT, filters: filters ? JSON.stringify(filters) : undefined } });
    const name = `mem7-${SCOPE_KEYS.filter((k) => scope[k]).map((k) => scope[k]).join("-")}.jsonl`;
    download(name, all.results.map((r) => JSON.stringify(r)).join("\n") + (all.results.length ? "\n" : ""));
    ctx.status(`Exported ${all.results.length} memories to ${name}.`);
  });
  const rows = data.results.map((m) => memoryRow(ctx, m, scope));
  const pager = h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    h("a", { href: link("memories", { ...Object.fromEntries(params), page: pageNo - 1 }), class: "button", "aria-disabled": String(pageNo <= 1), tabindex: pageNo <= 1 ? "-1" : undefined, rel: "prev" }, "Previous"),
    h("a", { href: link("memories", { ...Object.fromEntries(params), page: pageNo + 1 }), class: "button", "aria-disabled": String(last >= data.total), tabindex: last >= data.total ? "-1" : undefined, rel: "next" }, "Next"),
  );
  view.append(
    h("div", { class: "toolbar" }, status, exportButton),
    h("div", { class: "table-wrap" },
      h("table", { class: "memories", "data-testid": "memory-table" },
        h("caption", {}, `Memories of ${scopeText(scope)}`),
        h("thead", {}, h("tr", {}, ["memory", "type", "created", "metadata", "actions"].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, rows))),
    pager,
  );
}

function memoryRow(ctx, m, scope) {
  const text = h("td", { class: "text" }, h("a", { href: link(`memory/${encodeURIComponent(m.id)}`, scope) }, m.memory));
  const edit = h("button", { type: "button", "aria-label": `Edit: ${m.memory}` }, "Edit");
  const del = h("button", { type: "button", class: "danger", "aria-label": `Delete: ${m.memory}` }, "Delete");
  const row = h(
    "tr",
    { "data-id": m.id },
    text,
    h("td", {}, m.memory_type || "—"),
    h("td", {}, when(m.created_at)),
    h("td", { class: "meta" }, m.metadata ? JSON.stringify(m.metadata) : "—"),
    h("td", { class: "row-actions" }, edit, del),
  );
  edit.addEventListener("click", () => {
    const area = h("textarea", { rows: 3, "aria-label": "Memory text" });
    area.value = m.memory;
    const save = h("button", { type: "button", class: "primary" }, "Save");
    const cancel = h("button", { type: "button" }, "Cancel");
    const error = h("p", { class: "error", role: "alert" });
    const saved = text.cloneNode(true);
    text.replaceChildren(area, h("div", { class: "actions" }, save, cancel), error);
    area.focus();
    cancel.addEventListener("click", () => {
      text.replaceChildren(...saved.childNodes);
      edit.focus();
    });
    save.addEventListener("click", async () => {
      try {
        await api(`memories/${encodeURIComponent(m.id)}`, { method: "PUT", body: { text: area.value, ...onlySet(scope) } });
        ctx.status("Memory updated.");
        await ctx.refresh();
      } catch (e) {
        error.textContent = e.message;
      }
    });
  });
  del.addEventListener("click", async () => {
    if (!(await confirmDelete(`“${m.memory}” will be deleted (its history keeps a DELETE event).`))) {
      del.focus();
      return;
    }
    try {
      await api(`memories/${encodeURIComponent(m.id)}`, { method: "DELETE", query: onlySet(scope) });
      ctx.status("Memory deleted.");
      await ctx.refresh();
    } catch (e) {
      ctx.status(e.message, true);
    }
  });
  return row;
}

function onlySet(scope) {
  return Object.fromEntries(Object.entries(scope).filter(([, v]) => v));
}

// ------------------------------------------------------------------------------------ one memory
export async function memoryView(ctx, view, params, id) {
  ctx.title("Memory");
  if (pinRefusal(ctx, view, params)) return;
  const scope = onlySet(scopeOf(ctx, params));
  const [item, events, curve] = await Promise.all([
    api(`memories/${encodeURIComponent(id)}`, { query: scope }),
    api(`memories/${encodeURIComponent(id)}/history`, { query: scope }),
    api(`ui/api/memories/${encodeURIComponent(id)}/retention`, { query: scope }),
  ]);
  ctx.title(item.memory);
  const facts = [
    ["id", item.id],
    ["scope", scopeText(item)],
    ["type", item.memory_type || "—"],
    ["created", when(item.created_at)],
    ["updated", when(item.updated_at)],
    ["access count", String(item.access_count ?? 0)],
    ["last access", when(item.last_accessed_at)],
  ];
  const meta = Object.entries(item.metadata || {});
  view.append(
    h("p", {}, h("a", { href: link("memories", Object.fromEntries(SCOPE_KEYS.map((k) => [k, item[k]]))) }, "← all memories of this scope")),
    h("div", { class: "grid2" },
      h("section", { class: "card", "aria-labelledby": "h-facts" },
        h("h2", { id: "h-facts" }, "Details"),
        h("dl", { class: "facts", "data-testid": "memory-facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", { "data-key": k }, v)]))),
      h("section", { class: "card", "aria-labelledby": "h-meta" },
        h("h2", { id: "h-meta" }, "Metadata"),
        meta.length
          ? h("dl", { class: "facts", "data-testid": "memory-metadata" }, meta.map(([k, v]) => [h("dt", {}, k), h("dd", {}, typeof v === "string" ? v : JSON.stringify(v))]))
          : h("p", { class: "note" }, "none"))),
    h("section", { class: "card", "aria-labelledby": "h-history" },
      h("h2", { id: "h-history" }, "History"),
      h("ol", { class: "timeline", "data-testid": "history" }, events.map(historyEntry))),
    h("section", { class: "card", "aria-labelledby": "h-retention" },
      h("h2", { id: "h-retention" }, "Retention"),
      h("p", { class: curve.settings.enabled ? "summary" : "note", "data-testid": "retention-summary" },
        curve.settings.enabled
          ? `Decay is on: search multiplies this memory's score by ${num(curve.retention_now, 3)} now (accessed ${curve.access_count} times; half-life base ${num(curve.settings.base_half_life_secs / 86400, 1)} days).`
          : `Decay is off: search does not fade memories. The curve shows what the configured settings would do (retention ${num(curve.retention_now, 3)} now).`),
      h("div", { class: "plot-box" }, retentionPlot(curve))),
  );
}

function historyEntry(e) {
  const who = [e.actor_id && `actor ${e.actor_id}`, e.role && `role ${e.role}`].filter(Boolean).join(", ");
  return h(
    "li",
    { class: `event ${e.event.toLowerCase()}`, "data-event": e.event },
    h("span", { class: "badge" }, e.event),
    h("time", { datetime: e.created_at }, when(e.created_at)),
    e.stated_at ? h("span", { class: "note" }, ` (stated ${when(e.stated_at)})`) : null,
    who ? h("span", { class: "who-did" }, ` by ${who}`) : null,
    h("div", { class: "change" },
      e.old_memory ? h("del", {}, e.old_memory) : null,
      e.old_memory && e.new_memory ? h("span", { "aria-hidden": "true" }, " → ") : null,
      e.new_memory ? h("ins", {}, e.new_memory) : null),
  );
}

// ------------------------------------------------------------------------------------ search
function replay(steps) {
  let score = 0;
  for (const st of steps) {
    if (st.op === "add") score += st.value;
    else if (st.op === "multiply") score *= st.value;
    else score = st.value;
  }
  return score;
}

const OPS = { add: "+", multiply: "×", set: "=" };

function breakdown(result) {
  const parts = Object.entries(result.score_parts || {});
  const steps = result.score_steps || [];
  if (!parts.length && !steps.length) return h("p", { class: "note" }, "No breakdown returned for this result.");
  const scale = Math.max(1e-12, ...parts.map(([, v]) => Math.abs(v)).filter(Number.isFinite));
  return h(
    "div",
    { class: "breakdown" },
    h("table", { class: "parts", "data-testid": "score-parts" },
      h("caption", {}, "Score parts"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "part"), h("th", { scope: "col" }, "value"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "bar")))),
      h("tbody", {}, parts.map(([name, value]) =>
        h("tr", { "data-part": name }, h("th", { scope: "row" }, name), h("td", { class: "value", "data-value": String(value) }, num(value)), h("td", {}, bar(value, scale)))))),
    steps.length
      ? h("p", { class: "steps", "data-testid": "score-steps" },
          "0 ", steps.map((st) => h("span", { class: "step", "data-op": st.op, "data-value": String(st.value) }, `${OPS[st.op] || st.op} ${st.step} ${num(st.value)} → ${num(st.score)} `)),
          h("strong", { "data-testid": "steps-total" }, `= ${num(replay(steps))}`))
      : null,
  );
}

export async function searchView(ctx, view, params) {
  ctx.title("Search playground");
  if (pinRefusal(ctx, view, params)) return;
  const scope = scopeOf(ctx, params);
  const form = h("form", { class: "filters card", role: "search", "aria-label": "Search memories" });
  const q = h("input", { name: "q", type: "search", value: params.get("q") || "", required: true, autocomplete: "off" });
  const filters = h("input", { name: "meta", value: params.get("meta") || "", placeholder: '{"topic": "food"}', autocomplete: "off", spellcheck: "false" });
  const limit = h("input", { name: "limit", type: "number", min: 1, max: 100, value: params.get("limit") || "10" });
  const rerank = h("input", { name: "rerank", type: "checkbox", checked: params.get("rerank") !== "0" });
  form.append(
    h("div", { class: "row" }, field("query", q)),
    h("div", { class: "row" }, scopeFields(ctx, scope)),
    h("div", { class: "row" }, field("metadata filter (JSON)", filters), field("results", limit), h("div", { class: "field check" }, rerank, h("label", { for: (rerank.id = "f-rerank") }, "rerank"))),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Search")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = {};
    for (const [k, v] of data.entries()) if (v && k !== "rerank") next[k] = v;
    if (!rerank.checked) next.rerank = "0";
    ctx.go(link("search", next));
  });
  view.append(form);
  const query = params.get("q");
  if (!query) {
    message(view, "Type a query: results show each score's parts (dense, keyword, decay, context, rerank...) and how they combine.");
    return;
  }
  if (!hasScope(scope)) {
    message(view, "Choose a scope: a user, agent or run id.");
    return;
  }
  const meta = params.get("meta") ? filtersOf(new URLSearchParams({ meta: params.get("meta") })) : null;
  const body = { query, ...onlySet(scope), limit: Number(params.get("limit") || 10), rerank: params.get("rerank") !== "0", explain: true, rehearse: false };
  if (meta) body.filters = meta;
  const data = await api("memories/search", { method: "POST", body });
  view.append(
    h("p", { class: "summary", "data-testid": "result-count" }, `${data.results.length} results for “${query}”`),
    ctx.session.decay.enabled
      ? h("p", { class: "note" }, "Decay is on: this search only looks (rehearse: false), so access counts stay as they were; an agent's search counts as an access of what it returns.")
      : null,
    h("ol", { class: "results", "data-testid": "results" },
      data.results.map((r, i) =>
        h("li", { class: "card result", "data-id": r.id },
          h("div", { class: "result-head" },
            h("span", { class: "rank" }, `#${i + 1}`),
            h("a", { href: link(`memory/${encodeURIComponent(r.id)}`, onlySet(scope)) }, r.memory),
            h("span", { class: "score", "data-testid": "score", "data-value": String(r.score) }, `score ${num(r.score)}`)),
          breakdown(r)))),
  );
}

// ------------------------------------------------------------------------------------ graph
export async function graphView(ctx, view, params) {
  ctx.title("Graph");
  if (pinRefusal(ctx, view, params)) return;
  if (!ctx.session.graph) {
    message(view, "No graph store is configured on this server (graph_store: in the config).");
    return;
  }
  const scope = scopeOf(ctx, params);
  const form = h("form", { class: "filters card", "aria-label": "Graph scope" },
    h("div", { class: "row" }, scopeFields(ctx, scope)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Show")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = {};
    for (const [k, v] of new FormData(form).entries()) if (v) next[k] = v;
    ctx.go(link("graph", next));
  });
  view.append(form);
  if (!hasScope(scope)) {
    message(view, "Choose a scope: a user, agent or run id.");
    return;
  }
  const graph = await api("ui/api/graph", { query: onlySet(scope) });
  if (!graph.includes_invalid) message(view, "This graph store lists valid relations only: invalidated ones are not shown.");
  if (!graph.relations.length) {
    message(view, "No relations in this scope.");
    return;
  }
  view.append(
    h("div", { class: "plot-box graph-box card" }, graphPicture(graph)),
    h("p", { class: "legend" }, h("span", { class: "key valid" }, "— valid relation"), " ", h("span", { class: "key invalid" }, "- - invalidated (outdated by a later fact)")),
    table("Relations", ["source", "relationship", "destination", "valid", "mentions"],
      graph.relations.map((r) => [r.source, r.relationship, r.destination, r.valid ? "yes" : "no (invalidated)", String(r.mentions)]),
      { "data-testid": "relations" }),
  );
}
