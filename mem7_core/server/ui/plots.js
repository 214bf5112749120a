// Inline SVG pictures: a retention curve (points computed by the server's decay scorer) and a graph.
import { h, s, num } from "./dom.js";

const DAY = 86400;

function days(secs) {
  const d = secs / DAY;
  if (d === 0) return "0 d";
  return d >= 10 ? `${Math.round(d)} d` : `${d.toFixed(1)} d`;
}

/** The retention curve of ``curve`` (GET ui/api/memories/{id}/retention) with a marker at "now". */
export function retentionPlot(curve) {
  const W = 640, H = 260, L = 48, R = 16, T = 16, B = 40;
  const pts = curve.points;
  const horizon = pts[pts.length - 1].age_secs || 1;
  const x = (age) => L + ((W - L - R) * age) / horizon;
  const y = (r) => T + (H - T - B) * (1 - r);
  const line = pts.map((p, i) => `${i ? "L" : "M"}${x(p.age_secs).toFixed(1)},${y(p.retention).toFixed(1)}`).join(" ");
  const nowX = x(Math.min(curve.age_secs, horizon));
  const nowY = y(curve.retention_now);
  const floor = curve.settings.min_retention;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * horizon);
  const label = `Retention of this memory over time: ${num(curve.retention_now, 3)} now, ${days(curve.age_secs)} after ${
    curve.anchor ? "its anchor time" : "now"
  }; floor ${floor}.`;
  return s(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img", "aria-labelledby": "ret-title ret-desc", "data-testid": "retention-plot" },
    s("title", { id: "ret-title" }, "Retention curve"),
    s("desc", { id: "ret-desc" }, label),
    s("line", { x1: L, y1: y(0), x2: W - R, y2: y(0), class: "axis" }),
    s("line", { x1: L, y1: y(0), x2: L, y2: y(1), class: "axis" }),
    [0, 0.5, 1].map((r) => [
      s("line", { x1: L - 4, y1: y(r), x2: W - R, y2: y(r), class: "grid" }),
      s("text", { x: L - 8, y: y(r) + 4, class: "tick", "text-anchor": "end" }, r.toFixed(1)),
    ]),
    ticks.map((t) => s("text", { x: x(t), y: H - B + 16, class: "tick", "text-anchor": "middle" }, days(t))),
    s("text", { x: (L + W - R) / 2, y: H - 4, class: "tick", "text-anchor": "middle" }, "time since the anchor (last access, update or creation)"),
    s("line", { x1: L, y1: y(floor), x2: W - R, y2: y(floor), class: "floor" }),
    s("text", { x: L + 4, y: y(floor) - 4, class: "tick" }, `floor ${floor}`),
    s("path", { d: line, class: "curve" }),
    s("line", { x1: nowX, y1: y(0), x2: nowX, y2: y(1), class: "now-line" }),
    s("circle", { cx: nowX, cy: nowY, r: 5, class: "now-dot", "data-testid": "now-marker" }),
    s("text", { x: Math.min(nowX + 8, W - R - 90), y: Math.max(nowY - 8, T + 12), class: "now-label" }, `now ${num(curve.retention_now, 3)}`),
  );
}

/** A horizontal bar for a score part: |value| against ``scale`` (the largest |part| shown). */
export function bar(value, scale) {
  const frac = scale > 0 && Number.isFinite(value) ? Math.min(1, Math.abs(value) / scale) : 0;
  const inner = h("span", { class: value < 0 ? "bar-fill negative" : "bar-fill" });
  inner.style.width = `${(frac * 100).toFixed(1)}%`;
  return h("span", { class: "bar", "aria-hidden": "true" }, inner);
}

/** Entities on a circle, relations as arrows; invalidated relations dashed and grey, labelled. */
export function graphPicture(graph) {
  const W = 720, H = 520, CX = W / 2, CY = H / 2, RAD = Math.min(W, H) / 2 - 70;
  const names = graph.entities;
  const at = new Map(
    names.map((n, i) => {
      const a = (2 * Math.PI * i) / Math.max(1, names.length) - Math.PI / 2;
      return [n, [CX + RAD * Math.cos(a), CY + RAD * Math.sin(a)]];
    }),
  );
  const edges = graph.relations.map((r, i) => {
    const [x1, y1] = at.get(r.source);
    const [x2, y2] = at.get(r.destination);
    const len = Math.hypot(x2 - x1, y2 - y1) || 1;
    const trim = 22; // stop at the node's circle
    const ex = x2 - ((x2 - x1) * trim) / len, ey = y2 - ((y2 - y1) * trim) / len;
    const sx = x1 + ((x2 - x1) * trim) / len, sy = y1 + ((y2 - y1) * trim) / len;
    const text = r.valid ? r.relationship : `${r.relationship} (invalid)`;
    return s(
      "g",
      { class: r.valid ? "edge" : "edge invalid", "data-valid": String(r.valid), "data-testid": "graph-edge" },
      s("title", {}, `${r.source} ${r.relationship} ${r.destination}${r.valid ? "" : " (invalidated)"}`),
      s("line", { x1: sx, y1: sy, x2: ex, y2: ey, "marker-end": r.valid ? "url(#arrow)" : "url(#arrow-invalid)" }),
      s("text", { x: (sx + ex) / 2, y: (sy + ey) / 2 - 4 - (i % 2) * 12, "text-anchor": "middle", class: "edge-label" }, text),
    );
  });
  const nodes = names.map((n) => {
    const [x, y] = at.get(n);
    return s(
      "g",
      { class: "node", "data-testid": "graph-node" },
      s("circle", { cx: x, cy: y, r: 20 }),
      s("text", { x, y: y + 36, "text-anchor": "middle" }, n),
    );
  });
  const arrow = (id, cls) =>
    s("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: cls }));
  return s(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, class: "graph", role: "img", "aria-labelledby": "graph-title" },
    s("title", { id: "graph-title" }, `Graph: ${names.length} entities, ${graph.relations.length} relations`),
    s("defs", {}, arrow("arrow", "arrow-head"), arrow("arrow-invalid", "arrow-head invalid")),
    edges,
    nodes,
  );
}
