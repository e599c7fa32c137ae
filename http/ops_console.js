// The ops console (served as /ops/console.js). It keeps the ops token in
// this tab's sessionStorage, sends it only in the Authorization header and
// refreshes the members, traffic, queues and outbox every few seconds and
// the ledger check less often. Everything the nodes answer is written with
// textContent, never parsed as HTML.
"use strict";

(() => {
  const TOKEN_KEY = "vayva.ops.token";
  const REFRESH_MS = 2000;
  const LEDGER_MS = 30000;
  const SVG = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);
  const token = () => sessionStorage.getItem(TOKEN_KEY);
  let timer = null;
  let ledgerTimer = null;
  let clockSkewMs = 0; // server time minus this browser's
  let deadQueue = null;

  class Unauthorized extends Error {}

  async function call(method, path) {
    const t = token();
    if (!t) throw new Unauthorized("Sign in with the ops token.");
    const r = await fetch(path, {
      method,
      headers: { Authorization: "Bearer " + t, Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
    });
    let body = null;
    try { body = await r.json(); } catch (_) { /* not JSON */ }
    if (r.status === 401) throw new Unauthorized((body && body.detail) || "The ops token was refused.");
    if (!r.ok) throw new Error((body && (body.detail || body.title)) || (method + " " + path + ": " + r.status));
    return body;
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function cell(tr, text, cls) { const td = el("td", text, cls); tr.appendChild(td); return td; }
  function button(parent, label, fn, cls) {
    const b = el("button", label, cls);
    b.type = "button";
    b.addEventListener("click", fn);
    parent.appendChild(b);
    return b;
  }

  function duration(ms) {
    if (!isFinite(ms)) return "–";
    ms = Math.max(0, ms);
    if (ms < 1000) return Math.round(ms) + " ms";
    const s = ms / 1000;
    if (s < 60) return s.toFixed(1) + " s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min " + Math.floor(s % 60) + " s";
    const h = Math.floor(m / 60);
    if (h < 48) return h + " h " + (m % 60) + " min";
    return Math.floor(h / 24) + " d " + (h % 24) + " h";
  }
  const since = (iso) => iso ? Date.now() + clockSkewMs - Date.parse(iso) : NaN;

  // ---- confirmation step ------------------------------------------------

  function confirmStep(title, text, okLabel) {
    const d = $("confirm");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = okLabel;
    return new Promise((resolve) => {
      const done = (v) => {
        $("confirm-ok").removeEventListener("click", ok);
        $("confirm-cancel").removeEventListener("click", cancel);
        d.removeEventListener("cancel", cancel);
        if (d.open) d.close();
        resolve(v);
      };
      const ok = () => done(true);
      const cancel = (e) => { if (e) e.preventDefault(); done(false); };
      $("confirm-ok").addEventListener("click", ok);
      $("confirm-cancel").addEventListener("click", cancel);
      d.addEventListener("cancel", cancel);
      d.showModal();
      $("confirm-cancel").focus();
    });
  }

  // ---- members ----------------------------------------------------------

  function renderMembers(members) {
    const tb = $("members").tBodies[0];
    tb.replaceChildren();
    for (const m of members) {
      const tr = el("tr");
      tr.dataset.member = m.id;
      const id = cell(tr, m.id);
      if (m.self) id.appendChild(el("span", " (this node)", "muted"));
      const st = cell(tr, "");
      st.appendChild(el("span", m.status, "badge " + (m.status === "alive" ? "ok" : m.status === "draining" ? "warn" : "bad")));
      cell(tr, m.joined_at ? duration(since(m.joined_at)) : "–", "age");
      cell(tr, m.last_seen ? duration(since(m.last_seen)) + " ago" : (m.self ? "this node" : "–"), "heartbeat");
      cell(tr, m.address + (m.http_addr ? " · http " + m.http_addr : ""));
      const acts = Object.entries(m.actors || {}).sort(([a], [b]) => a.localeCompare(b));
      cell(tr, acts.length ? acts.map(([k, v]) => k + ": " + v).join(", ") : "none", "activations");
      const td = cell(tr, "");
      if (m.status === "alive") {
        button(td, "drain", () => drain(m.id), "drain");
      }
      tb.appendChild(tr);
    }
  }

  async function drain(id) {
    const ok = await confirmStep("Drain member " + id + "?",
      "The member stops taking work, hands its actors over to the other members and leaves the cluster. " +
      "It does not come back under this id.", "Drain " + id);
    if (!ok) return;
    try {
      await call("POST", "/ops/cluster/members/" + encodeURIComponent(id) + "/drain");
      showError("");
      flash("Member " + id + " is draining.");
    } catch (e) { handle(e); }
    refreshSoon();
  }

  // ---- traffic charts ---------------------------------------------------

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  const W = 360, PANEL = 56, GAP = 16, LEFT = 34, TOP = 4;
  const PANELS = [
    { title: "requests/s", series: [["requests", "s-requests"]] },
    { title: "latency ms", series: [["latency_p50_ms", "s-p50"], ["latency_p99_ms", "s-p99"]] },
    { title: "errors/s", series: [["client_errors", "s-client"], ["server_errors", "s-server"]] },
  ];

  function chart(seconds) {
    const h = TOP + PANELS.length * (PANEL + GAP);
    const root = svg("svg", { class: "chart", width: W, height: h, viewBox: "0 0 " + W + " " + h, role: "img" });
    const n = Math.max(seconds.length, 2);
    const x = (i) => LEFT + (i * (W - LEFT - 4)) / (n - 1);
    PANELS.forEach((p, pi) => {
      const y0 = TOP + pi * (PANEL + GAP);
      let top = 0;
      for (const [field] of p.series) for (const s of seconds) top = Math.max(top, Number(s[field]) || 0);
      const scale = top > 0 ? top * 1.1 : 1;
      const g = svg("g", { class: "panel", "data-panel": p.title });
      g.appendChild(svg("rect", { class: "frame", x: LEFT, y: y0, width: W - LEFT - 4, height: PANEL }));
      g.appendChild(svg("text", { x: 2, y: y0 + 9 }, fmtAxis(top)));
      g.appendChild(svg("text", { x: 2, y: y0 + PANEL }, "0"));
      g.appendChild(svg("text", { x: LEFT + 3, y: y0 + PANEL + 11 }, p.title));
      for (const [field, cls] of p.series) {
        const pts = seconds.map((s, i) => x(i).toFixed(1) + "," + (y0 + PANEL - ((Number(s[field]) || 0) / scale) * PANEL).toFixed(1));
        g.appendChild(svg("polyline", { class: cls, "data-series": field, points: pts.join(" ") }));
      }
      root.appendChild(g);
    });
    return root;
  }
  function fmtAxis(v) { return v >= 100 ? Math.round(v).toString() : v >= 10 ? v.toFixed(0) : v > 0 ? v.toFixed(1) : "0"; }

  function legend() {
    const p = el("p", null, "legend");
    for (const [k, label] of [["requests", "requests"], ["p50", "p50"], ["p99", "p99"], ["client", "4xx"], ["server", "5xx"]]) {
      p.appendChild(el("span", "■ " + label, "k-" + k));
    }
    return p;
  }

  function renderCharts(members) {
    const box = $("charts");
    box.replaceChildren();
    for (const m of members) {
      const card = el("div", null, "chart-card");
      card.dataset.member = m.id;
      card.appendChild(el("h3", m.id + (m.self ? " (this node)" : "")));
      if (!m.metrics) {
        card.appendChild(el("p", "no figures: " + (m.error || "unknown"), "bad"));
        box.appendChild(card);
        continue;
      }
      const all = m.metrics.seconds || [];
      if (m.self && m.metrics.at) clockSkewMs = Date.parse(m.metrics.at) - Date.now();
      // The last second is still filling: the chart and the figures line
      // show the complete ones, the totals count it too.
      const secs = all.length > 1 ? all.slice(0, -1) : all;
      const last = secs[secs.length - 1] || { requests: 0, latency_p50_ms: 0, latency_p99_ms: 0 };
      let total = 0, errs = 0;
      for (const s of all) { total += s.requests; errs += s.server_errors; }
      card.dataset.requests = String(total);
      card.appendChild(el("p", last.requests + " req/s · p50 " + last.latency_p50_ms + " ms · p99 " + last.latency_p99_ms +
        " ms · " + total + " requests, " + errs + " 5xx in the last minute", "figures"));
      card.appendChild(chart(secs));
      card.appendChild(legend());
      box.appendChild(card);
    }
  }

  // ---- queues and dead letters ------------------------------------------

  function renderQueues(queues) {
    const tb = $("queues").tBodies[0];
    tb.replaceChildren();
    for (const q of queues) {
      const tr = el("tr");
      tr.dataset.queue = q.name;
      cell(tr, q.name);
      cell(tr, q.length, "num");
      cell(tr, q.pending, "num");
      cell(tr, q.delayed, "num");
      cell(tr, q.dead, "num" + (q.dead > 0 ? " bad" : ""));
      const td = cell(tr, "");
      if (q.dead > 0) {
        button(td, "inspect", () => inspect(q.name), "inspect");
        button(td, "replay " + q.dead, () => replay(q.name, q.dead), "replay");
      }
      tb.appendChild(tr);
    }
  }

  async function inspect(name) {
    deadQueue = name;
    try {
      const list = await call("GET", "/ops/queues/" + encodeURIComponent(name) + "/dead?limit=50");
      $("dead-queue").textContent = name;
      const tb = $("dead-letters").tBodies[0];
      tb.replaceChildren();
      for (const d of list) {
        const tr = el("tr");
        cell(tr, d.dead_at ? new Date(d.dead_at).toLocaleString() : "–");
        cell(tr, d.type || "–");
        cell(tr, d.key || "–");
        cell(tr, d.job_id || d.id);
        cell(tr, d.attempts, "num");
        cell(tr, d.payload_bytes + " B", "num");
        cell(tr, d.last_error, "bad");
        tb.appendChild(tr);
      }
      if (!list.length) {
        const tr = el("tr");
        const td = cell(tr, "no dead letters");
        td.colSpan = 7;
        tb.appendChild(tr);
      }
      $("dead").hidden = false;
    } catch (e) { handle(e); }
  }

  async function replay(name, count) {
    const ok = await confirmStep("Replay dead letters of " + name + "?",
      "The " + count + " dead job(s) go back onto " + name + " with their attempts reset and run again.", "Replay");
    if (!ok) return;
    try {
      const r = await call("POST", "/ops/queues/" + encodeURIComponent(name) + "/dead/replay");
      flash(r.replayed + " job(s) of " + name + " replayed.");
      if (deadQueue === name) inspect(name);
    } catch (e) { handle(e); }
    refreshSoon();
  }

  // ---- outbox and ledger ------------------------------------------------

  function renderOutbox(o) {
    const p = $("outbox");
    p.textContent = o.unpublished === 0
      ? "up to date: no event waits to be published"
      : o.unpublished + " event(s) wait to be published; the oldest for " + duration(o.lag_seconds * 1000);
    p.className = o.lag_seconds >= 5 ? "bad" : o.unpublished > 0 ? "warn" : "ok";
  }

  async function runLedger() {
    clearTimeout(ledgerTimer);
    $("ledger").textContent = "checking…";
    try {
      const l = await call("GET", "/ops/ledger/check");
      const p = $("ledger");
      p.textContent = (l.ok ? "all invariants hold" : l.problems.length + " problem(s)") +
        " · " + l.checked_transactions + " transactions checked at " + new Date().toLocaleTimeString();
      p.className = l.ok ? "ok" : "bad";
      const ul = $("ledger-problems");
      ul.replaceChildren();
      for (const pr of l.problems) ul.appendChild(el("li", pr, "bad"));
    } catch (e) {
      $("ledger").textContent = "the check did not run: " + e.message;
      $("ledger").className = "bad";
      if (e instanceof Unauthorized) { handle(e); return; }
    }
    ledgerTimer = setTimeout(runLedger, LEDGER_MS);
  }

  // ---- refresh loop -----------------------------------------------------

  async function refresh() {
    clearTimeout(timer);
    if (!token()) return;
    const parts = await Promise.allSettled([
      call("GET", "/ops/cluster").then((c) => c.members),
      call("GET", "/ops/cluster/metrics?seconds=61").then((c) => c.members),
      call("GET", "/ops/queues"),
      call("GET", "/ops/outbox"),
    ]);
    const failed = parts.filter((p) => p.status === "rejected").map((p) => p.reason);
    if (failed.some((e) => e instanceof Unauthorized)) { handle(failed.find((e) => e instanceof Unauthorized)); return; }
    // Traffic first: it carries the server's clock the ages are read by.
    if (parts[1].status === "fulfilled") renderCharts(parts[1].value);
    if (parts[0].status === "fulfilled") renderMembers(parts[0].value);
    if (parts[2].status === "fulfilled") renderQueues(parts[2].value);
    if (parts[3].status === "fulfilled") renderOutbox(parts[3].value);
    showError(failed.map((e) => e.message).join("; "));
    $("refresh").textContent = "updated " + new Date().toLocaleTimeString() + " · every " + REFRESH_MS / 1000 + " s";
    document.body.dataset.refreshed = String((Number(document.body.dataset.refreshed) || 0) + 1);
    timer = setTimeout(refresh, REFRESH_MS);
  }
  function refreshSoon() { clearTimeout(timer); timer = setTimeout(refresh, 100); }

  function showError(text) { $("error").textContent = text; }
  let flashTimer = null;
  function flash(text) {
    $("refresh").textContent = text;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { $("refresh").textContent = ""; }, 4000);
  }

  function handle(e) {
    if (e instanceof Unauthorized) {
      signOut(e.message);
      return;
    }
    showError(e.message);
  }

  // ---- sign in and out --------------------------------------------------

  function signIn(t) {
    sessionStorage.setItem(TOKEN_KEY, t);
    $("login").hidden = true;
    $("console").hidden = false;
    $("logout").hidden = false;
    $("login-error").textContent = "";
    refresh();
    runLedger();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    clearTimeout(timer);
    clearTimeout(ledgerTimer);
    $("console").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("refresh").textContent = "";
    $("token").value = "";
    $("token").focus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const t = $("token").value.trim();
      $("token").value = "";
      if (t) signIn(t);
    });
    $("logout").addEventListener("click", () => signOut(""));
    $("ledger-run").addEventListener("click", runLedger);
    $("dead-close").addEventListener("click", () => { $("dead").hidden = true; deadQueue = null; });
    document.addEventListener("visibilitychange", () => { if (!document.hidden && token()) refreshSoon(); });
    if (token()) signIn(token()); else signOut("");
  });
})();
