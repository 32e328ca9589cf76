// iMi's public GraphQL API, and nothing else: queries over HTTP POST /graphql, live results
// over graphql-transport-ws at the same path.
//
// The API key lives in sessionStorage, not localStorage: it is scoped to this tab and gone
// when the tab closes, so a read key is not left on disk for every later visitor of the
// browser profile, and other tabs do not inherit it silently.

const KEY_NAME = "imi.dashboard.apiKey";
const root = document.querySelector('meta[name="imi-root"]')?.content || "";
export const GRAPHQL_PATH = `${root}/graphql`;

export const apiKey = {
  get: () => sessionStorage.getItem(KEY_NAME),
  set: (key) => sessionStorage.setItem(KEY_NAME, key),
  forget: () => sessionStorage.removeItem(KEY_NAME),
};

/** The server refused the caller (401: no or bad key; 403: key without the scope). */
export class AuthError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** A GraphQL answer with errors; `missingField` when the schema lacks a field we asked. */
export class QueryError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.errors = errors;
    this.missingField = errors.some((e) => /^Cannot query field/.test(e.message));
  }
}

function authCode(errors) {
  const codes = (errors || []).map((e) => e.extensions?.code);
  if (codes.includes("UNAUTHORIZED")) return 401;
  if (codes.includes("FORBIDDEN")) return 403;
  return null;
}

/** Run one query; resolves to `data`, rejects with AuthError or QueryError. */
export async function gql(query, variables = {}) {
  const headers = { "content-type": "application/json", accept: "application/json" };
  const key = apiKey.get();
  if (key) headers.authorization = `Bearer ${key}`;
  const response = await fetch(GRAPHQL_PATH, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
    credentials: "omit",
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const message = body?.error?.message || body?.errors?.[0]?.message;
  if (response.status === 401 || response.status === 403) {
    throw new AuthError(response.status, message || response.statusText);
  }
  if (response.status === 429) throw new Error("rate limited: retry in a minute");
  if (!body) throw new Error(`GraphQL answered ${response.status}`);
  const code = authCode(body.errors);
  if (code) throw new AuthError(code, message);
  if (body.errors?.length) throw new QueryError(body.errors);
  return body.data;
}

/**
 * One subscription over graphql-transport-ws, reconnecting with backoff.
 * onData(data) per result, onState("connecting"|"live"|"offline"|"refused", detail).
 */
export class LiveFeed {
  constructor(query, { onData, onState }) {
    this.query = query;
    this.onData = onData;
    this.onState = onState;
    this.socket = null;
    this.retry = 0;
    this.timer = null;
    this.stopped = true;
    this.acked = false;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000, "bye");
    this.socket = null;
  }

  connect() {
    const url = new URL(GRAPHQL_PATH, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.onState("connecting");
    const socket = new WebSocket(url, "graphql-transport-ws");
    this.socket = socket;
    socket.onopen = () => {
      const key = apiKey.get();
      const payload = key ? { authorization: `Bearer ${key}` } : {};
      socket.send(JSON.stringify({ type: "connection_init", payload }));
    };
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === "connection_ack") {
        this.retry = 0;
        // After a reconnect, results sent while away are lost: the caller re-reads.
        this.onState("live", this.acked ? "reconnected" : "");
        this.acked = true;
        socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: this.query } }));
      } else if (message.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      } else if (message.type === "next" && message.payload?.data) {
        this.onData(message.payload.data);
      } else if (message.type === "complete") {
        socket.close(1000, "stream ended"); // the server ended it: reconnect, subscribe again
      } else if (message.type === "error") {
        this.onState("offline", message.payload?.[0]?.message || "subscription error");
        socket.close(1000, "error");
      }
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (event.code === 4403 || event.code === 4401) {
        this.onState("refused", event.reason || "the key was refused");
        return; // a new key restarts the feed
      }
      if (this.stopped) return;
      this.onState("offline", event.reason || "");
      const delay = Math.min(30000, 1000 * 2 ** this.retry++);
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }
}
