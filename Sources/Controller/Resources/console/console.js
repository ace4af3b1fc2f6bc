// The Ringmaster console: one page, four views (Cluster, Jobs, Job, Failures), charts drawn as SVG here.
// Data comes from the console's session-authenticated mirror of the API (/console/api/v1/…); the event
// stream (NDJSON) keeps every view live without reloading the page. No library, no build step.
"use strict";

const API = "/console/api/v1";
const SVGNS = "http://www.w3.org/2000/svg";
const PHASES = ["detection", "teardown", "decision", "backoff", "relaunch", "first-step"];
const PHASE_NAMES = { detection: "detection", teardown: "teardown", decision: "decision", backoff: "backoff",
  relaunch: "relaunch", "first-step": "rendezvous + restore + first step" };

const state = {
  loadId: Math.random().toString(36).slice(2), // unchanged for as long as the page lives (no reload)
  events: [],          // newest last, the latest 500
  lastEvent: 0,
  renders: 0,
  streamed: 0,
  pending: null,
  rendering: false,
  again: false,
};
window.ringmasterConsole = state;

// ---- small DOM helpers (text is always set as text, never parsed as HTML) ----

function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "onclick") e.addEventListener("click", v); else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

function s(tag, attrs, ...children) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function badge(text) { return h("span", { class: "state " + text }, text); }
function fmtTime(iso) { return iso ? new Date(iso).toISOString().slice(11, 23) : "–"; }
function fmtDate(iso) { return iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 19) : "–"; }
function fmtSec(x) { return x === null || x === undefined ? "–" : (x < 10 ? x.toFixed(2) : x.toFixed(1)) + " s"; }
function fmtDur(sec) {
  if (sec === null || sec === undefined) return "–";
  if (sec < 120) return sec.toFixed(0) + " s";
  if (sec < 7200) return (sec / 60).toFixed(1) + " min";
  if (sec < 172800) return (sec / 3600).toFixed(1) + " h";
  return (sec / 86400).toFixed(1) + " d";
}
function pct(x) { return x === null || x === undefined ? "–" : (x * 100).toFixed(1) + "%"; }
function card(k, v, attrs) { return h("div", Object.assign({ class: "card" }, attrs || {}), h("div", { class: "k" }, k), h("div", { class: "v" }, v)); }

async function api(path) {
  const r = await fetch(API + path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (r.status === 401) { location.reload(); throw new Error("signed out"); }
  if (!r.ok) {
    let body = {};
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    const err = new Error(body.error || r.statusText);
    err.status = r.status;
    throw err;
  }
  const type = r.headers.get("content-type") || "";
  return type.includes("json") ? r.json() : r.text();
}

// ---- tooltips: any element with data-tip ----

document.addEventListener("mouseover", (ev) => {
  const t = ev.target.closest && ev.target.closest("[data-tip]");
  const tip = document.getElementById("tip");
  if (!t) { tip.hidden = true; return; }
  tip.textContent = t.getAttribute("data-tip");
  tip.hidden = false;
});
document.addEventListener("mousemove", (ev) => {
  const tip = document.getElementById("tip");
  if (tip.hidden) return;
  const x = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
  const y = Math.min(ev.clientY + 14, window.innerHeight - tip.offsetHeight - 8);
  tip.style.left = x + "px";
  tip.style.top = y + "px";
});

// ---- charts ----

function lineChart(points, opts) {
  const W = 640, H = 200, L = 52, R = 12, T = 12, B = 28;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart " + (opts.cls || ""), "data-points": points.length,
    "data-last-step": points.length ? points[points.length - 1].step : "", role: "img", "aria-label": opts.label });
  if (!points.length) {
    svg.append(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, opts.empty || "no points yet"));
    return svg;
  }
  const xs = points.map(opts.x), ys = points.map((p) => p.value);
  const lo = Math.min(...points.map((p) => p.min ?? p.value)), hi = Math.max(...points.map((p) => p.max ?? p.value));
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const sx = (v) => L + (x1 > x0 ? (v - x0) / (x1 - x0) : 0.5) * (W - L - R);
  const sy = (v) => T + (hi > lo ? 1 - (v - lo) / (hi - lo) : 0.5) * (H - T - B);
  svg.append(s("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }), s("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
  svg.append(s("text", { x: L - 6, y: T + 4, "text-anchor": "end" }, hi.toPrecision(3)),
    s("text", { x: L - 6, y: H - B, "text-anchor": "end" }, lo.toPrecision(3)),
    s("text", { x: L, y: H - 8 }, opts.xLabel(x0)), s("text", { x: W - R, y: H - 8, "text-anchor": "end" }, opts.xLabel(x1)));
  if (points.some((p) => p.count > 1)) {
    const top = points.map((p, i) => `${sx(xs[i]).toFixed(1)},${sy(p.max).toFixed(1)}`);
    const bottom = points.map((p, i) => `${sx(xs[i]).toFixed(1)},${sy(p.min).toFixed(1)}`).reverse();
    svg.append(s("polygon", { class: "band", points: top.concat(bottom).join(" ") }));
  }
  svg.append(s("polyline", { class: "curve " + (opts.cls || ""), points: points.map((p, i) => `${sx(xs[i]).toFixed(1)},${sy(ys[i]).toFixed(1)}`).join(" ") }));
  const last = points[points.length - 1];
  svg.append(s("circle", { cx: sx(xs[xs.length - 1]), cy: sy(last.value), r: 3, class: "fail-mark last-point",
    "data-tip": `${opts.label}: ${last.value.toPrecision(4)} at step ${last.step ?? "–"} (${fmtTime(last.time)})` }));
  return svg;
}

function failureTip(f) {
  const lines = [`${f.kind} in attempt ${f.attempt ?? "–"} of ${f.job}`, `node ${f.node ?? "–"}, rank ${f.rank ?? "–"}`,
    `detected ${fmtTime(f.detectedAt)}` + (f.step !== null && f.step !== undefined ? ` at step ${f.step}` : "")];
  if (f.exitStatus !== null && f.exitStatus !== undefined) lines.push(`exit status ${f.exitStatus}`);
  if (f.signal !== null && f.signal !== undefined) lines.push(`signal ${f.signal}`);
  if (f.injected) lines.push(`injected: ${f.injected}; detection ${fmtSec(f.detectionSeconds)}`);
  lines.push(`recovery ${fmtSec(f.recoverySeconds)}; lost steps ${f.lostSteps ?? "–"}; ${f.outcome}`);
  for (const p of f.phases) lines.push(`  ${PHASE_NAMES[p.name] || p.name}: ${fmtSec(p.seconds)}`);
  if (f.lastLines && f.lastLines.length) lines.push("last lines:", ...f.lastLines.map((l) => "  " + l));
  return lines.join("\n");
}

// Attempts as bars on a time axis; each failure as its phases, one after the other, on the row below.
function timeline(detail, failures, now) {
  const W = 900, L = 90, R = 12, rowH = 26;
  const attempts = detail.attempts;
  const svg = s("svg", { viewBox: `0 0 ${W} ${rowH * 2 + 40}`, class: "timeline", "data-failures": failures.length,
    role: "img", "aria-label": "attempts and failures" });
  if (!attempts.length) { svg.append(s("text", { x: W / 2, y: 30, "text-anchor": "middle" }, "no attempt yet")); return svg; }
  const t0 = Date.parse(attempts[0].startedAt);
  const ends = attempts.map((a) => (a.endedAt ? Date.parse(a.endedAt) : now));
  for (const f of failures) for (const p of f.phases) ends.push(Date.parse(p.start) + p.seconds * 1000);
  const t1 = Math.max(...ends, t0 + 1000);
  const sx = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  svg.append(s("text", { x: 0, y: 18 }, "attempts"), s("text", { x: 0, y: rowH + 18 }, "failures"));
  svg.append(s("rect", { class: "row", x: L, y: 2, width: W - L - R, height: rowH - 4 }),
    s("rect", { class: "row", x: L, y: rowH + 2, width: W - L - R, height: rowH - 4 }));
  attempts.forEach((a, i) => {
    const x = sx(Date.parse(a.startedAt)), w = Math.max(2, sx(ends[i]) - x);
    const tip = `attempt ${a.number}: ${a.state}\nstarted ${fmtTime(a.startedAt)}, ended ${fmtTime(a.endedAt)}\n` +
      `resume ${a.resumeStep === null || a.resumeStep === undefined ? "fresh" : "step " + a.resumeStep}; nodes ${a.nodes.join(", ")}` +
      (a.endReason ? `\n${a.endReason}` : "");
    svg.append(s("rect", { class: "attempt " + a.state, x, y: 4, width: w, height: rowH - 8, "data-attempt": a.number, "data-tip": tip }));
    if (w > 60) svg.append(s("text", { x: x + 5, y: 18, "data-tip": tip }, `#${a.number} ${a.state}`));
  });
  for (const f of failures) {
    const g = s("g", { class: "failure", "data-kind": f.kind, "data-node": f.node ?? "", "data-attempt": f.attempt ?? "",
      "data-detection-seconds": f.detectionSeconds ?? "", "data-recovery-seconds": f.recoverySeconds ?? "",
      "data-lost-steps": f.lostSteps ?? "", "data-outcome": f.outcome, "data-tip": failureTip(f) });
    const d = sx(Date.parse(f.detectedAt));
    g.append(s("line", { class: "axis", x1: d, y1: 2, x2: d, y2: rowH * 2 - 2 }));
    for (const p of f.phases) {
      const x = sx(Date.parse(p.start));
      const w = Math.max(p.name === "decision" ? 1.5 : 3, sx(Date.parse(p.start) + p.seconds * 1000) - x);
      g.append(s("rect", { class: "phase phase-" + p.name, "data-phase": p.name, "data-seconds": p.seconds.toFixed(3),
        x, y: rowH + 5, width: w, height: rowH - 10 }));
    }
    svg.append(g);
  }
  const ticks = 5;
  for (let i = 0; i <= ticks; i++) {
    const t = t0 + ((t1 - t0) * i) / ticks;
    svg.append(s("text", { x: sx(t), y: rowH * 2 + 16, "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle" },
      fmtTime(new Date(t).toISOString()).slice(0, 8)));
  }
  return svg;
}

function legend() {
  return h("div", { class: "legend" }, PHASES.map((p) => h("span", {}, h("i", { class: p }), PHASE_NAMES[p])));
}

// Nodes × time: each failure a mark on its node's row, as wide as its recovery.
function failureStrip(nodes, failures, windowSeconds, now) {
  const W = 900, L = 90, R = 12, rowH = 20;
  const span = Math.max(300, Math.min(windowSeconds || 0, 86400)) * 1000;
  const t0 = now - span;
  const svg = s("svg", { viewBox: `0 0 ${W} ${rowH * nodes.length + 24}`, class: "strip", role: "img", "aria-label": "failures per node over time" });
  const sx = (t) => L + ((t - t0) / span) * (W - L - R);
  nodes.forEach((n, i) => {
    const y = i * rowH;
    svg.append(s("text", { x: 0, y: y + 14 }, n.id), s("rect", { class: "row", x: L, y: y + 2, width: W - L - R, height: rowH - 4, "data-node": n.id }));
    for (const f of failures.filter((f) => f.node === n.id)) {
      const t = Date.parse(f.detectedAt);
      if (t < t0) continue;
      const w = Math.max(3, ((f.recoverySeconds || 0) * 1000 / span) * (W - L - R));
      svg.append(s("rect", { class: "fail-mark", x: sx(t), y: y + 4, width: w, height: rowH - 8, "data-node": n.id,
        "data-kind": f.kind, "data-tip": failureTip(f) }));
    }
  });
  svg.append(s("text", { x: L, y: rowH * nodes.length + 16 }, fmtTime(new Date(t0).toISOString()).slice(0, 8)),
    s("text", { x: W - R, y: rowH * nodes.length + 16, "text-anchor": "end" }, "now"));
  return svg;
}

function eventList(events) {
  const box = h("div", { class: "events mono", id: "events" });
  for (const e of events.slice(-80).reverse()) {
    const cls = e.kind.startsWith("failure.") ? "failure" : e.kind.startsWith("recovery.") ? "recovery" : "";
    box.append(h("div", { class: cls, "data-event": e.id, title: e.message }, h("span", { class: "dim" }, fmtTime(e.time) + "  "),
      h("span", { class: "kind" }, e.kind), " ", e.message));
  }
  if (!events.length) box.append(h("div", { class: "empty" }, "no events yet"));
  return box;
}

// ---- views ----

async function clusterView() {
  const [nodes, failures] = await Promise.all([api("/nodes"), api("/failures")]);
  const now = Date.now();
  const since = (f, sec) => now - Date.parse(f.detectedAt) <= sec * 1000;
  const rows = nodes.map((n) => {
    const mine = failures.failures.filter((f) => f.node === n.id);
    const acc = n.accelerators.length ? `${n.accelerators.length}× ${n.accelerators[0].kind || n.accelerators[0].vendor || ""}` : "none";
    const release = n.state === "quarantined"
      ? h("button", { class: "release", type: "button", "data-release": n.id, onclick: () => release(n.id) }, "release") : "";
    return h("tr", { "data-node": n.id },
      h("td", {}, n.id, n.spare ? h("span", { class: "dim" }, " (spare)") : ""), h("td", {}, badge(n.state)),
      h("td", { class: "dim" }, n.reason || ""), h("td", {}, acc), h("td", { class: "num" }, n.ranks),
      h("td", { class: "num fail-hour" }, mine.filter((f) => since(f, 3600)).length),
      h("td", { class: "num fail-day" }, mine.filter((f) => since(f, 86400)).length), h("td", {}, release));
  });
  return [
    h("h1", {}, "Cluster"),
    h("div", { class: "cards" }, card("nodes", nodes.length), card("ready", nodes.filter((n) => n.state === "ready").length),
      card("quarantined", nodes.filter((n) => n.state === "quarantined").length),
      card("failures", failures.failures.length, { "data-failures": failures.failures.length })),
    h("table", { id: "nodes" }, h("thead", {}, h("tr", {}, ["node", "state", "reason", "accelerators", "ranks", "failures 1 h", "failures 24 h", "quarantine"]
      .map((t, i) => h("th", { class: i >= 4 && i <= 6 ? "num" : "" }, t)))), h("tbody", {}, rows)),
    h("h2", {}, "Failures per node over time"),
    h("div", { class: "panel" }, failureStrip(nodes, failures.failures, failures.windowSeconds, now)),
  ];
}

async function release(node) {
  const r = await fetch(`${API}/nodes/${encodeURIComponent(node)}/release`, { method: "POST", credentials: "same-origin",
    headers: { "X-Ringmaster-Console": "1", "Content-Type": "application/json" }, body: "{}" });
  if (!r.ok) { const b = await r.json().catch(() => ({})); alert(b.error || r.statusText); }
  scheduleRender(0);
}

async function jobsView() {
  const jobs = await api("/jobs");
  const rows = jobs.map((j) => h("tr", { "data-job": j.id },
    h("td", {}, h("a", { href: "#/job/" + encodeURIComponent(j.id) }, j.id)), h("td", {}, badge(j.state)),
    h("td", {}, `${j.worldSize} (${j.data}×${j.pipeline}×${j.tensor})`), h("td", { class: "num step" }, j.step ?? "–"),
    h("td", { class: "num" }, j.checkpoint ?? "–"), h("td", { class: "num" }, j.attempt ?? "–"), h("td", { class: "num" }, j.restarts),
    h("td", { class: "num" }, pct(j.goodput)), h("td", {}, fmtDate(j.submittedAt)), h("td", { class: "dim" }, j.reason || "")));
  return [h("h1", {}, "Jobs"), jobs.length
    ? h("table", { id: "jobs" }, h("thead", {}, h("tr", {}, ["job", "state", "ranks (D×P×T)", "step", "checkpoint", "attempt", "restarts", "goodput", "submitted", "reason"]
      .map((t, i) => h("th", { class: i >= 3 && i <= 7 ? "num" : "" }, t)))), h("tbody", {}, rows))
    : h("p", { class: "empty" }, "No jobs yet: ringmaster submit JOB.yaml")];
}

async function jobView(id) {
  const q = encodeURIComponent(id);
  const [detail, loss, rate, failures, logs] = await Promise.all([api(`/jobs/${q}`), api(`/jobs/${q}/series?metric=loss&points=400`),
    api(`/jobs/${q}/series?metric=steps_per_second&points=400`), api(`/failures?job=${q}`), api(`/jobs/${q}/logs?tail=12`).catch(() => "")]);
  const j = detail.job;
  const now = Date.now();
  const events = state.events.filter((e) => e.job === j.id);
  const failureRows = failures.failures.map((f) => h("tr", { class: "failure-row", "data-attempt": f.attempt ?? "" },
    h("td", {}, f.attempt ?? "–"), h("td", {}, f.kind), h("td", {}, f.node ?? "–"), h("td", { class: "num" }, f.rank ?? "–"),
    h("td", {}, fmtTime(f.detectedAt)), h("td", { class: "num detection" }, fmtSec(f.detectionSeconds)),
    ...["teardown", "backoff", "relaunch", "first-step"].map((p) => h("td", { class: "num" }, fmtSec((f.phases.find((x) => x.name === p) || {}).seconds))),
    h("td", { class: "num recovery" }, fmtSec(f.recoverySeconds)), h("td", { class: "num" }, f.lostSteps ?? "–"), h("td", {}, badge(f.outcome))));
  return [
    h("h1", {}, `Job ${j.id} `, badge(j.state)),
    h("div", { class: "cards" }, card("step", j.step ?? "–", { id: "job-step" }), card("checkpoint", j.checkpoint ?? "–"),
      card("attempts", j.attempt ?? 0), card("restarts", j.restarts), card("goodput", pct(j.goodput), { id: "goodput" }),
      card("layout", `${j.data}×${j.pipeline}×${j.tensor}`)),
    j.reason ? h("p", { class: "dim" }, j.reason) : "",
    h("div", { class: "grid" },
      h("div", { class: "panel", id: "loss" }, h("h2", {}, "loss by step"),
        lineChart(loss.points, { label: "loss", x: (p) => p.step ?? 0, xLabel: (v) => "step " + v, empty: "no loss reported yet" })),
      h("div", { class: "panel", id: "rate" }, h("h2", {}, "steps per second"),
        lineChart(rate.points, { label: "steps/s", cls: "rate", x: (p) => Date.parse(p.time), xLabel: (v) => fmtTime(new Date(v).toISOString()).slice(0, 8) }))),
    h("h2", {}, "Attempts and failures"),
    h("div", { class: "panel", id: "timeline" }, timeline(detail, failures.failures, now), legend()),
    failures.failures.length
      ? h("table", { id: "job-failures" }, h("thead", {}, h("tr", {}, ["attempt", "kind", "node", "rank", "detected", "detection", "teardown", "backoff", "relaunch", "rdv+restore+step", "recovery", "lost steps", "outcome"]
        .map((t) => h("th", {}, t)))), h("tbody", {}, failureRows))
      : h("p", { class: "empty" }, "No failures."),
    h("div", { class: "grid" },
      h("div", {}, h("h2", {}, "Live events"), eventList(events)),
      h("div", {}, h("h2", {}, "Rank logs (tail)"), h("pre", { class: "logs", id: "logs" }, logs || "(no output)"))),
  ];
}

async function failuresView() {
  const f = await api("/failures");
  const counts = (obj, name) => h("table", { class: "counts", id: "by-" + name }, h("thead", {}, h("tr", {}, h("th", {}, name), h("th", { class: "num" }, "failures"))),
    h("tbody", {}, Object.entries(obj).sort((a, b) => b[1] - a[1]).map(([k, v]) => h("tr", { ["data-" + name]: k }, h("td", {}, k), h("td", { class: "num" }, v)))));
  const rows = f.failures.slice().reverse().map((x) => h("tr", { "data-job": x.job },
    h("td", {}, h("a", { href: "#/job/" + encodeURIComponent(x.job) }, x.job)), h("td", {}, x.attempt ?? "–"), h("td", {}, x.kind),
    h("td", {}, x.node ?? "–"), h("td", {}, fmtDate(x.detectedAt)), h("td", { class: "num" }, fmtSec(x.detectionSeconds)),
    h("td", { class: "num" }, fmtSec(x.recoverySeconds)), h("td", { class: "num" }, x.lostSteps ?? "–"), h("td", {}, badge(x.outcome)),
    h("td", { class: "dim", "data-tip": failureTip(x) }, x.message)));
  return [
    h("h1", {}, "Failures"),
    h("div", { class: "cards" }, card("failures", f.failures.length),
      card("observed MTBF", fmtDur(f.observedMTBFSeconds), { id: "mtbf-observed", "data-tip": `${f.failures.length} failures over ${fmtDur(f.windowSeconds)} of events` }),
      card("planner's MTBF", fmtDur(f.plannerMTBFSeconds), { id: "mtbf-planner", "data-tip": `50,000 h per accelerator ÷ ${f.accelerators} accelerators (the capacity planner's default)` })),
    h("div", { class: "grid" }, h("div", { class: "panel" }, counts(f.byNode, "node")), h("div", { class: "panel" }, counts(f.byKind, "kind"))),
    h("h2", {}, "Every failure"),
    f.failures.length ? h("table", { id: "failures" }, h("thead", {}, h("tr", {}, ["job", "attempt", "kind", "node", "detected", "detection", "recovery", "lost steps", "outcome", "cause"]
      .map((t) => h("th", {}, t)))), h("tbody", {}, rows)) : h("p", { class: "empty" }, "No failures recorded."),
  ];
}

function route() {
  const parts = (location.hash || "#/cluster").slice(2).split("/");
  return { name: parts[0] || "cluster", arg: parts.slice(1).map(decodeURIComponent).join("/") };
}

async function render() {
  if (state.rendering) { state.again = true; return; }
  state.rendering = true;
  const r = route();
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.route === r.name || (r.name === "job" && a.dataset.route === "jobs")));
  try {
    const view = r.name === "jobs" ? await jobsView() : r.name === "job" ? await jobView(r.arg)
      : r.name === "failures" ? await failuresView() : await clusterView();
    const page = document.getElementById("page");
    page.replaceChildren(...view.flat().filter((x) => x !== ""));
    page.dataset.view = r.name;
    state.renders += 1;
    page.dataset.renders = state.renders;
    document.getElementById("updated").textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC · ${state.streamed} events streamed`;
  } catch (e) {
    document.getElementById("page").replaceChildren(h("p", { class: "bad" }, `Could not load this view: ${e.message}`));
  } finally {
    state.rendering = false;
    if (state.again) { state.again = false; scheduleRender(200); }
  }
}

function scheduleRender(delay) {
  if (state.pending) return;
  state.pending = setTimeout(() => { state.pending = null; render(); }, delay ?? 400);
}

// The event stream: NDJSON from the controller, woken by each commit; reconnects after the last id seen.
async function follow() {
  const live = document.getElementById("live");
  for (;;) {
    try {
      const r = await fetch(`${API}/events?follow=1&after=${state.lastEvent}`, { credentials: "same-origin" });
      if (r.status === 401) { location.reload(); return; }
      if (!r.ok || !r.body) throw new Error(r.statusText);
      live.textContent = "live";
      live.classList.add("on");
      const reader = r.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let i;
        while ((i = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, i);
          buffer = buffer.slice(i + 1);
          if (!line.trim()) continue;
          const e = JSON.parse(line);
          state.lastEvent = Math.max(state.lastEvent, e.id);
          state.events.push(e);
          state.streamed += 1;
        }
        if (state.events.length > 500) state.events.splice(0, state.events.length - 500);
        scheduleRender();
      }
    } catch (e) { /* reconnect below */ }
    live.textContent = "reconnecting…";
    live.classList.remove("on");
    await new Promise((r) => setTimeout(r, 1000));
  }
}

window.addEventListener("hashchange", () => render());
window.addEventListener("DOMContentLoaded", () => {
  document.getElementById("logout").addEventListener("click", async () => {
    await fetch("/console/logout", { method: "POST", credentials: "same-origin", headers: { "X-Ringmaster-Console": "1" } });
    location.reload();
  });
  render();
  follow();
  // Progress (steps, loss, steps/s) is not an event: the job views also refresh every few seconds.
  setInterval(() => { if (!document.hidden) scheduleRender(0); }, 3000);
});
