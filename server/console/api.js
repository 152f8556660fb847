// Talking to the hub: the session (kept in localStorage), REST calls, and the live stream,
// which reconnects by itself and asks for a resync after every gap.

const SESSION_KEY = "scaan.session";

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export const session = {
  load() {
    try {
      const saved = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
      if (saved && saved.token && Date.parse(saved.expires_at) > Date.now()) return saved;
    } catch {
      // A damaged entry is as good as none: the officer logs in again.
    }
    localStorage.removeItem(SESSION_KEY);
    return null;
  },
  save(login) {
    localStorage.setItem(SESSION_KEY, JSON.stringify(login));
  },
  clear() {
    localStorage.removeItem(SESSION_KEY);
  },
};

let token = null;
let onUnauthenticated = () => {};

export function useToken(value, whenRejected) {
  token = value;
  if (whenRejected) onUnauthenticated = whenRejected;
}

/** One API call; resolves to the parsed JSON body (or the Response for `raw`). `keepalive`
 *  lets a small request outlive the page (an action sent as the page closes). */
export async function call(method, path, body, { raw = false, keepalive = false } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    keepalive,
  });
  if (!response.ok) {
    let detail = {};
    try {
      detail = (await response.json()).error || {};
    } catch {
      // Not the contract's error body (a proxy's page, say): the status says enough.
    }
    if (response.status === 401 && token) onUnauthenticated();
    throw new ApiError(response.status, detail.code || "http_" + response.status,
      detail.message || response.statusText, detail.field);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

export async function login(username, password) {
  const answer = await call("POST", "/api/v1/auth/login", { username, password });
  session.save(answer);
  return answer;
}

/**
 * The live stream. `onEnvelope` gets every envelope; `onState` gets "connecting", "live" or
 * "reconnecting"; `onGap` is called on every (re)connection and on a `resync` envelope, so the
 * page refetches what it may have missed.
 */
export class Stream {
  constructor({ onEnvelope, onState, onGap }) {
    Object.assign(this, { onEnvelope, onState, onGap });
    this.attempt = 0;
    this.closed = false;
    this.socket = null;
    this.timer = null;
    this.watchdog = null;
    // When the hub was last heard from (a frame, the socket opening, a watchdog answer): what
    // the page shows is known to be current as of then.
    this.lastHeard = null;
  }

  /** A dropped network can leave a socket that looks open for minutes (the page never sees
   *  the hub's pings). Every 20 s, ask the hub over HTTP; if it cannot be reached while the
   *  socket claims to be open, drop the socket and reconnect. */
  watch() {
    clearInterval(this.watchdog);
    this.watchdog = setInterval(async () => {
      const socket = this.socket;
      if (!socket || socket.readyState !== WebSocket.OPEN) return;
      try {
        await fetch("/healthz", { cache: "no-store", signal: AbortSignal.timeout(8000) });
        if (this.socket === socket) this.lastHeard = Date.now();
      } catch {
        if (this.socket === socket && !this.closed) {
          this.socket = null;
          socket.close();
          this.retry();
        }
      }
    }, 20000);
  }

  open() {
    this.closed = false;
    if (!this.watchdog) this.watch();
    this.onState(this.attempt === 0 ? "connecting" : "reconnecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/api/v1/stream?access_token=${encodeURIComponent(token)}`;
    // One socket at a time: a reconnect abandons whatever attempt was still under way.
    if (this.socket) {
      const previous = this.socket;
      this.socket = null;
      previous.close();
    }
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.lastHeard = Date.now();
      this.attempt = 0;
      this.onState("live");
      this.onGap("connected");
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      this.lastHeard = Date.now();
      let envelope;
      try {
        envelope = JSON.parse(event.data);
      } catch {
        return;
      }
      if (envelope.type === "resync") this.onGap("resync");
      else this.onEnvelope(envelope);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket || this.closed) return;
      // 1008: the token was revoked; reconnecting with it would only fail again.
      if (event.code === 1008) {
        onUnauthenticated();
        return;
      }
      this.retry();
    };
  }

  retry() {
    this.onState("reconnecting");
    // Back off 0.5 s, 1 s, 2 s … up to 10 s, with jitter so a restarted hub is not stampeded.
    const delay = Math.min(10000, 500 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
    this.attempt += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), delay);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.watchdog);
    this.watchdog = null;
    if (this.socket) this.socket.close(1000);
    this.socket = null;
  }
}
