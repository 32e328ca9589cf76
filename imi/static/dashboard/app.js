// The dashboard: wires the board, trace view, metrics and live feed to the page, and runs the
// API key flow (README "Security"): no key needed where the server lets the caller in
// (IMI_AUTH=local-open on loopback); otherwise the page asks for one on 401.

import { apiKey, AuthError, gql, LiveFeed } from "./api.js";
import { Board, BOARD_QUERY, LIVE_SUBSCRIPTION, STALE_QUERY } from "./board.js";
import { h, mount } from "./dom.js";
import { METRICS_QUERY, metricsWindow, renderMetrics, renderUnavailable } from "./metrics.js";
import { renderTrace, TRACE_QUERY } from "./trace.js";

const $ = (id) => document.getElementById(id);
const RERENDER_MS = 30_000; // idle times move on without any event
const STALE_REFRESH_MS = 300_000;

const board = new Board($("board"), { onTrace: (type, id) => trace(type, id) });
let feed = null;
let staleSupported = true;

function showError(message) {
  const banner = $("error");
  banner.hidden = !message;
  banner.textContent = message || "";
}

function setLive(state, detail) {
  const live = $("live");
  live.dataset.state = state;
  live.textContent = { connecting: "connecting…", live: "live", offline: "offline", refused: "refused" }[state] || state;
  live.title = detail || "";
}

function showAuth(message) {
  $("auth").hidden = false;
  $("auth-error").textContent = message;
  $("auth-error").hidden = !message;
  $("content").hidden = true;
  $("key-input").focus();
}

function hideAuth() {
  $("auth").hidden = true;
  $("content").hidden = false;
}

function authMessage(error) {
  if (error.status === 403) return `This key may not read (403 FORBIDDEN): ${error.message}. Use a key with imi:read.`;
  if (apiKey.get()) return `The key was refused (401 UNAUTHORIZED): ${error.message}`;
  return "This server asks for an API key (401 UNAUTHORIZED).";
}

/** Every failure goes through here: 401/403 open the key form, the rest the banner. */
function fail(error) {
  if (error instanceof AuthError) {
    stopFeed();
    showAuth(authMessage(error));
  } else {
    showError(error.message || String(error));
  }
}

function refreshKeyButton() {
  $("forget-key").hidden = !apiKey.get();
}

function stopFeed() {
  if (feed) feed.stop();
  feed = null;
}

function startFeed() {
  stopFeed();
  feed = new LiveFeed(LIVE_SUBSCRIPTION, {
    onData: (data) => {
      const item = data.workItemUpdated;
      board.upsert(item);
      renderBoard();
      document.querySelector(`.card[data-id="${CSS.escape(item.id)}"]`)?.classList.add("updated");
    },
    onState: (state, detail) => {
      setLive(state, detail);
      if (state === "refused") showAuth(`Live updates refused the key: ${detail}`);
      if (detail === "reconnected") reloadBoard().catch(fail);
    },
  });
  feed.start();
}

function fillSelect(select, entries, allLabel) {
  const current = select.value;
  mount(select, h("option", { value: "" }, allLabel), entries.map(([value, label]) => h("option", { value }, label)));
  select.value = entries.some(([value]) => value === current) ? current : "";
}

function renderBoard() {
  const { projects, agents } = board.options();
  fillSelect($("f-project"), [...projects.entries()].sort((a, b) => a[1].localeCompare(b[1])), "all projects");
  fillSelect($("f-agent"), agents.map((a) => [a, a]), "all agents");
  board.filters = {
    group: $("group").value,
    project: $("f-project").value,
    agent: $("f-agent").value,
    status: $("f-status").value,
    text: $("f-text").value,
    staleOnly: $("f-stale").checked,
  };
  board.render();
  $("board-count").textContent = `${board.visible().length} of ${board.items.size} in flight`;
}

async function loadStale() {
  if (!staleSupported) return;
  try {
    const data = await gql(STALE_QUERY);
    board.stale = new Map(data.staleWork.nodes.map((n) => [n.workItem.id, n]));
  } catch (error) {
    if (error.missingField) staleSupported = false; // older server: idle time only
    else throw error;
  }
}

async function loadMetrics() {
  const node = $("metrics");
  const variables = metricsWindow(Number($("m-days").value));
  const project = $("f-project").value;
  if (project) variables.projectId = project;
  try {
    renderMetrics(node, (await gql(METRICS_QUERY, variables)).deliveryMetrics);
  } catch (error) {
    if (error.missingField) renderUnavailable(node, "the server has no deliveryMetrics field");
    else if (error instanceof AuthError) throw error;
    else renderUnavailable(node, error.message);
  }
}

async function trace(type, id) {
  $("trace-type").value = type;
  $("trace-id").value = id;
  const node = $("trace");
  mount(node, h("p", { class: "empty" }, "Tracing…"));
  try {
    renderTrace(node, (await gql(TRACE_QUERY, { type, id })).trace);
  } catch (error) {
    if (error instanceof AuthError) fail(error);
    else mount(node, h("p", { class: "empty error-text" }, error.message));
  }
  $("trace-section").scrollIntoView({ block: "nearest" });
}

async function reloadBoard() {
  board.load((await gql(BOARD_QUERY)).inFlightWork.nodes);
  await loadStale();
  renderBoard();
}

async function loadAll() {
  showError("");
  refreshKeyButton();
  try {
    const data = await gql(BOARD_QUERY);
    hideAuth();
    board.load(data.inFlightWork.nodes);
    await loadStale();
    renderBoard();
    startFeed();
    await loadMetrics();
  } catch (error) {
    fail(error);
  }
}

$("auth-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("key-input").value.trim();
  if (!key) return;
  apiKey.set(key);
  $("key-input").value = "";
  loadAll();
});

$("forget-key").addEventListener("click", () => {
  apiKey.forget();
  stopFeed();
  board.load([]);
  renderBoard();
  loadAll();
});

$("trace-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const id = $("trace-id").value.trim();
  if (id) trace($("trace-type").value, id);
});

for (const id of ["group", "f-agent", "f-status", "f-stale"]) $(id).addEventListener("change", renderBoard);
$("f-text").addEventListener("input", renderBoard);
$("f-project").addEventListener("change", () => {
  renderBoard();
  loadMetrics().catch(fail);
});
$("m-days").addEventListener("change", () => loadMetrics().catch(fail));

setInterval(renderBoard, RERENDER_MS);
setInterval(() => {
  if (feed) loadStale().then(renderBoard).catch(fail);
}, STALE_REFRESH_MS);

loadAll();
