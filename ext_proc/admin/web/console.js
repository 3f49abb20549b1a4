// Chaperone's operator console: pending approvals, the kill switch, and live decisions.
//
// Everything shown comes from agent traffic and is treated as untrusted: it reaches the page
// only through textContent and attribute setters, never as markup (the page's
// Content-Security-Policy also refuses markup built from strings: require-trusted-types-for).
// The operator token is asked once and kept in this tab's sessionStorage; every API call sends
// it as a bearer token (the decisions stream too: it is read with fetch, because EventSource
// cannot send headers).
"use strict";

(() => {
  const TOKEN_KEY = "chaperone.operator-token";
  const APPROVALS_EVERY_MS = 3000;
  const KILLS_EVERY_MS = 5000;
  const RECONNECT_MS = 2000;
  const MAX_DECISION_ROWS = 200;
  const ACTION_KEYS = ["protocol", "provider", "model", "method", "tool", "uri", "prompt", "agent"];

  const $ = (id) => document.getElementById(id);
  let timers = [];
  let feed = null;

  class Unauthorized extends Error {}

  // -- the token -----------------------------------------------------------------------------

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function signIn(event) {
    event.preventDefault();
    const value = $("token").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $("token").value = "";
    start();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    stop();
    $("main").hidden = true;
    $("sign-out").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("status").textContent = "";
    $("token").focus();
  }

  // -- the API -------------------------------------------------------------------------------

  async function api(method, path, body) {
    const headers = { authorization: "Bearer " + token() };
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (response.status === 401) throw new Unauthorized();
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const error = data && data.error;
      const message = error && typeof error.message === "string" ? error.message : response.statusText;
      throw new Error(`${method} ${path}: ${response.status} ${message}`);
    }
    return data;
  }

  async function guarded(errorId, work) {
    try {
      await work();
      $(errorId).textContent = "";
    } catch (error) {
      if (error instanceof Unauthorized) {
        signOut("The token was refused.");
      } else {
        $(errorId).textContent = String(error.message || error);
      }
    }
  }

  // -- building rows (text only) ---------------------------------------------------------------

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text === undefined || text === null ? "" : String(text);
    if (className) td.className = className;
    return td;
  }

  function button(label, className, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.className = className;
    b.addEventListener("click", onClick);
    return b;
  }

  function formatTime(value) {
    if (value === undefined || value === null || value === "") return "";
    const date = typeof value === "number" ? new Date(value * 1000) : new Date(String(value));
    if (Number.isNaN(date.getTime())) return String(value);
    return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function formatAction(action) {
    if (action === undefined || action === null) return "";
    if (typeof action !== "object" || Array.isArray(action)) {
      return typeof action === "string" ? action : JSON.stringify(action);
    }
    const parts = ACTION_KEYS.filter((key) => action[key] !== undefined && action[key] !== null).map(
      (key) => (typeof action[key] === "string" ? action[key] : JSON.stringify(action[key])),
    );
    return parts.length ? parts.join(" ") : JSON.stringify(action);
  }

  // What the call would do with what: the arguments of a tool call (or of each call of a batch),
  // as the API gives them (sensitive values already redacted by the service).
  function formatArguments(action) {
    if (!action || typeof action !== "object") return "";
    if (Array.isArray(action.batch)) {
      return action.batch.map(formatArguments).filter((text) => text).join("; ");
    }
    const args = action.arguments;
    if (args === undefined || args === null) return "";
    return typeof args === "string" ? args : JSON.stringify(args);
  }

  function actionCell(action) {
    const td = cell(formatAction(action), "mono");
    const args = formatArguments(action);
    if (args) {
      const detail = document.createElement("div");
      detail.className = "arguments";
      detail.textContent = args;
      td.append(detail);
    }
    return td;
  }

  // -- approvals -------------------------------------------------------------------------------

  async function refreshApprovals() {
    await guarded("approvals-error", async () => {
      const data = await api("GET", "/api/approvals?status=pending");
      renderApprovals((data && Array.isArray(data.approvals) ? data.approvals : []).filter(
        (a) => a && a.status === "pending",
      ));
    });
  }

  function renderApprovals(approvals) {
    const body = $("approvals").tBodies[0];
    const rows = approvals.map(approvalRow);
    body.replaceChildren(...rows);
    $("approvals-count").textContent = rows.length ? `(${rows.length})` : "";
    $("approvals-empty").hidden = rows.length > 0;
  }

  function approvalRow(approval) {
    const tr = document.createElement("tr");
    tr.dataset.id = String(approval.id);
    const comment = document.createElement("input");
    comment.placeholder = "comment";
    comment.setAttribute("aria-label", "comment");
    comment.autocomplete = "off";
    const commentCell = document.createElement("td");
    commentCell.append(comment);
    const actions = document.createElement("td");
    actions.className = "decide";
    const approve = button("Approve", "approve", () => decide(tr, approval.id, "approve", comment.value));
    const deny = button("Deny", "deny", () => decide(tr, approval.id, "deny", comment.value));
    actions.append(approve, " ", deny);
    tr.append(
      cell(formatTime(approval.created_at)),
      cell(approval.agent),
      actionCell(approval.action),
      cell(approval.reason),
      cell(approval.group),
      cell(formatTime(approval.expires_at)),
      commentCell,
      actions,
    );
    return tr;
  }

  async function decide(row, id, verdict, comment) {
    for (const b of row.querySelectorAll("button")) b.disabled = true;
    await guarded("approvals-error", async () => {
      try {
        await api("POST", `/api/approvals/${encodeURIComponent(id)}/${verdict}`, { comment });
      } finally {
        for (const b of row.querySelectorAll("button")) b.disabled = false;
      }
      row.remove();
      const left = $("approvals").tBodies[0].rows.length;
      $("approvals-count").textContent = left ? `(${left})` : "";
      $("approvals-empty").hidden = left > 0;
    });
    refreshApprovals();
  }

  // -- the kill switch -------------------------------------------------------------------------

  async function refreshKills() {
    await guarded("kill-error", async () => {
      const data = await api("GET", "/api/kill-switch");
      renderKills(data && Array.isArray(data.kills) ? data.kills : []);
    });
  }

  function renderKills(kills) {
    const rows = kills.map((kill) => {
      const tr = document.createElement("tr");
      tr.dataset.scope = String(kill.scope);
      tr.dataset.target = kill.target === null || kill.target === undefined ? "" : String(kill.target);
      const release = document.createElement("td");
      release.append(button("Release", "release", () => releaseKill(kill.scope, kill.target)));
      tr.append(
        cell(kill.scope),
        cell(kill.target),
        cell(kill.reason),
        cell(kill.actor),
        cell(formatTime(kill.engaged_at)),
        release,
      );
      return tr;
    });
    $("kills").tBodies[0].replaceChildren(...rows);
    $("kills-empty").hidden = rows.length > 0;
  }

  async function engage(event) {
    event.preventDefault();
    const scope = $("kill-scope").value;
    const target = $("kill-target").value.trim();
    const reason = $("kill-reason").value.trim();
    if (scope !== "all" && !target) {
      $("kill-error").textContent = `Name the ${scope} to stop.`;
      return;
    }
    await guarded("kill-error", async () => {
      const body = { scope, reason };
      if (scope !== "all") body.target = target;
      await api("POST", "/api/kill-switch", body);
      $("kill-target").value = "";
      $("kill-reason").value = "";
    });
    refreshKills();
  }

  async function releaseKill(scope, target) {
    const query = new URLSearchParams({ scope: String(scope) });
    if (target !== null && target !== undefined && target !== "") query.set("target", String(target));
    await guarded("kill-error", () => api("DELETE", `/api/kill-switch?${query}`));
    refreshKills();
  }

  // -- live decisions (Server-Sent Events read with fetch) ---------------------------------------

  function decisionRow(event) {
    const tr = document.createElement("tr");
    tr.dataset.decisionId = String(event.decision_id || "");
    const allowed = event.allowed === true;
    const result = allowed ? "allowed" : deniedAs(event.status);
    const reasons = Array.isArray(event.reasons) ? event.reasons.join("; ") : "";
    tr.append(
      cell(formatTime(event.time)),
      cell(event.phase),
      cell(result, allowed ? "allowed" : "denied"),
      cell(formatAction(event.action), "mono"),
      cell(`${event.method || ""} ${event.path || ""}`.trim(), "mono"),
      cell(reasons || event.error_code || ""),
    );
    return tr;
  }

  // A refused MCP or A2A call is answered as a JSON-RPC error at HTTP 200 (or 202 for a
  // notification): it is denied all the same, and shown so, not as "denied 200".
  function deniedAs(status) {
    if (!status) return "denied";
    return status < 400 ? "denied (JSON-RPC error)" : `denied ${status}`;
  }

  function showDecision(event) {
    if (!event || event.event !== "decision") return;
    const body = $("decisions").tBodies[0];
    body.prepend(decisionRow(event));
    while (body.rows.length > MAX_DECISION_ROWS) body.lastElementChild.remove();
  }

  async function followDecisions(signal) {
    const response = await fetch("/api/decisions/stream?backlog=50", {
      headers: { authorization: "Bearer " + token(), accept: "text/event-stream" },
      cache: "no-store",
      signal,
    });
    if (response.status === 401) throw new Unauthorized();
    if (!response.ok || !response.body) throw new Error(`decisions stream: ${response.status}`);
    $("feed-state").textContent = "(live)";
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  function dispatch(block) {
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      else if (line.startsWith("event:")) name = line.slice(6).trim();
    }
    if (!data.length) return;
    let payload;
    try {
      payload = JSON.parse(data.join("\n"));
    } catch (_) {
      return;
    }
    if (name === "message") showDecision(payload);
    else if (name === "dropped") $("feed-state").textContent = `(live, ${payload.dropped} missed)`;
  }

  function startFeed() {
    const controller = new AbortController();
    feed = controller;
    const loop = async () => {
      while (!controller.signal.aborted) {
        try {
          await followDecisions(controller.signal);
        } catch (error) {
          if (error instanceof Unauthorized) {
            signOut("The token was refused.");
            return;
          }
        }
        if (controller.signal.aborted) return;
        $("feed-state").textContent = "(reconnecting)";
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
      }
    };
    loop();
  }

  // -- start and stop --------------------------------------------------------------------------

  function start() {
    if (!token()) {
      signOut("");
      return;
    }
    $("login").hidden = true;
    $("main").hidden = false;
    $("sign-out").hidden = false;
    $("status").textContent = "signed in";
    stop();
    $("decisions").tBodies[0].replaceChildren();
    refreshApprovals();
    refreshKills();
    timers = [setInterval(refreshApprovals, APPROVALS_EVERY_MS), setInterval(refreshKills, KILLS_EVERY_MS)];
    startFeed();
  }

  function stop() {
    for (const timer of timers) clearInterval(timer);
    timers = [];
    if (feed) feed.abort();
    feed = null;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", signIn);
    $("kill-form").addEventListener("submit", engage);
    $("sign-out").addEventListener("click", () => signOut(""));
    $("kill-scope").addEventListener("change", () => {
      $("kill-target").disabled = $("kill-scope").value === "all";
    });
    $("kill-target").disabled = $("kill-scope").value === "all";
    start();
  });
})();
