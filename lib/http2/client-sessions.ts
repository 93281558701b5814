/**
 * The HTTP/2 sessions clients open for RFC 8441 WebSockets, as browsers use them: one session per
 * origin (and TLS options), shared by every WebSocket to that origin, kept only while usable.
 *
 * - A session is usable for WebSockets once the server's SETTINGS say SETTINGS_ENABLE_CONNECT_PROTOCOL
 *   = 1 (RFC 8441 §3: the client "MUST NOT send a CONNECT request with the :protocol pseudo-header"
 *   before that). A session whose SETTINGS say 0, or that fails before they arrive (a server without
 *   h2: a TLS alert for the `h2` ALPN offer, or a closed connection for cleartext), is reported as
 *   unusable, and the caller falls back to HTTP/1.1.
 * - A pooled session keeps the process alive only while a WebSocket uses it (ref'd), as a socket
 *   does; idle it is unref'd and stays for the next WebSocket until the server closes it.
 * - A session the application passes (`http2: session`) is its own: never pooled, ref'd, unref'd or
 *   closed here.
 */
import type * as http2 from 'node:http2';
import type * as https from 'node:https';
import { http2Module } from './detect';

/** The outcome of waiting for a session: usable for WebSockets, or not (then `error` says why, if it failed). */
export type SessionCallback = (session: http2.ClientHttp2Session | null, error: Error | null) => void;

/** A session and what is known about it. */
interface SessionState {
  readonly session: http2.ClientHttp2Session;
  /** null until the server's first SETTINGS; then whether it allows extended CONNECT. */
  connectProtocol: boolean | null;
  /** Set when the session failed or closed before its SETTINGS arrived. */
  failure: Error | null;
  waiting: SessionCallback[];
  /** WebSockets using it (pooled sessions only): ref'd while above zero. */
  users: number;
  readonly pooled: boolean;
}

const pool = new Map<string, SessionState>();
/** Origins found without RFC 8441 support, and when: HTTP/1.1 is used for them for a while. */
const refusals = new Map<string, number>();
/** How long an origin without RFC 8441 goes straight to HTTP/1.1 (a server may be upgraded meanwhile). */
const REMEMBER_REFUSAL_MS = 5 * 60_000;
const states = new WeakMap<http2.ClientHttp2Session, SessionState>();

/** Ids for TLS option values that cannot be compared by value (certificates, functions). */
const valueIds = new WeakMap<object, number>();
let nextValueId = 0;

/** The pool key: the origin, and the TLS options (by value where they are primitives, else by identity). */
function poolKey(origin: string, tlsOptions: https.RequestOptions | null): string {
  if (tlsOptions === null) return origin;
  const parts: string[] = [];
  for (const key of Object.keys(tlsOptions).sort()) {
    const value = (tlsOptions as Record<string, unknown>)[key];
    if (value !== null && (typeof value === 'object' || typeof value === 'function')) {
      let id = valueIds.get(value);
      if (id === undefined) {
        id = ++nextValueId;
        valueIds.set(value, id);
      }
      parts.push(`${key}=#${id}`);
    } else {
      parts.push(`${key}=${typeof value}:${String(value)}`);
    }
  }
  return `${origin} ${parts.join('&')}`;
}

/**
 * Gets a session to `origin` (`http://host:port` or `https://host:port`) usable for WebSockets, from
 * the pool or newly opened; `callback` runs once that is known (with null: use HTTP/1.1). A usable
 * session counts one more user (ref'd), for `releaseSession()` when the WebSocket ends.
 */
export function pooledSession(origin: string, tlsOptions: https.RequestOptions | null, callback: SessionCallback): void {
  const key = poolKey(origin, tlsOptions);
  const refusedAt = refusals.get(key);
  if (refusedAt !== undefined) {
    if (Date.now() - refusedAt < REMEMBER_REFUSAL_MS) {
      callback(null, null);
      return;
    }
    refusals.delete(key);
  }
  let state = pool.get(key);
  if (state === undefined || state.session.destroyed || state.session.closed) {
    const options: http2.SecureClientSessionOptions = tlsOptions === null ? {} : { ...(tlsOptions as http2.SecureClientSessionOptions) };
    const session = http2Module().connect(origin, options);
    state = track(session, true);
    pool.set(key, state);
    const opened = state;
    session.once('close', () => {
      if (pool.get(key) === opened) pool.delete(key);
    });
    // GOAWAY: no new streams may start on it (RFC 9113 §6.8); the WebSockets on it go on.
    session.once('goaway', () => {
      if (pool.get(key) === opened) pool.delete(key);
    });
  }
  const known = state;
  whenKnown(state, (session, error) => {
    if (session !== null) {
      known.users++;
      session.ref();
    } else {
      // Not usable (no RFC 8441, or no HTTP/2 there): remembered for a while, so the next
      // WebSockets to this origin go straight to HTTP/1.1 instead of paying for a session each.
      refusals.set(key, Date.now());
      if (pool.get(key) === known) pool.delete(key);
      if (!known.session.destroyed) known.session.close();
    }
    callback(session, error);
  });
}

/** Waits for the SETTINGS of a session the application passed in. */
export function ownSession(session: http2.ClientHttp2Session, callback: SessionCallback): void {
  const state = states.get(session) ?? track(session, false);
  whenKnown(state, callback);
}

/** One WebSocket stopped using its session (pooled sessions are unref'd when nobody uses them). */
export function releaseSession(session: http2.ClientHttp2Session): void {
  const state = states.get(session);
  if (state === undefined || !state.pooled || state.users === 0) return;
  state.users--;
  if (state.users === 0 && !session.destroyed) session.unref();
}

function track(session: http2.ClientHttp2Session, pooled: boolean): SessionState {
  const state: SessionState = { session, connectProtocol: null, failure: null, waiting: [], users: 0, pooled };
  states.set(session, state);
  const settled = (): void => {
    const waiting = state.waiting;
    state.waiting = [];
    for (const callback of waiting) report(state, callback);
  };
  const failed = (error?: Error): void => {
    if (state.connectProtocol !== null || state.failure !== null) return;
    state.failure = error ?? new Error('The HTTP/2 session closed before the server sent its SETTINGS.');
    settled();
  };
  const decided = (allowed: boolean): void => {
    if (state.connectProtocol !== null || state.failure !== null) return;
    state.connectProtocol = allowed;
    settled();
  };
  if (session.remoteSettings.enableConnectProtocol === true) {
    state.connectProtocol = true;
  } else if (!pooled && !session.connecting && !session.destroyed) {
    // A session the application opened earlier may have had the server's SETTINGS long ago (Node
    // has no flag for it: until they arrive `remoteSettings` holds the defaults). The server sends
    // its SETTINGS before anything else, so once a PING is answered they are known.
    session.ping((error) => {
      if (error !== null) failed(error);
      else decided(session.remoteSettings.enableConnectProtocol === true);
    });
  } else {
    session.once('remoteSettings', (settings: http2.Settings) => decided(settings.enableConnectProtocol === true));
  }
  // A pooled session's errors are reported to the WebSockets waiting on it, or reach them through
  // their streams; with no listener an 'error' would take the process down. (An application's own
  // session keeps its own error handling: its close tells us enough.)
  if (pooled) session.on('error', failed);
  session.once('close', () => failed());
  return state;
}

function whenKnown(state: SessionState, callback: SessionCallback): void {
  if (state.connectProtocol === null && state.failure === null) state.waiting.push(callback);
  else report(state, callback);
}

function report(state: SessionState, callback: SessionCallback): void {
  const usable = state.connectProtocol === true && !state.session.destroyed && !state.session.closed;
  callback(usable ? state.session : null, usable ? null : state.failure);
}
