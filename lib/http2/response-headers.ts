/**
 * Header blocks of the answers to an extended CONNECT. HTTP/2 is stricter than the HTTP/1.1
 * responses WebSocketRequest writes as text: names are lower case tokens, connection-specific
 * fields are malformed (RFC 9113 §8.2.2), pseudo-header fields are the protocol's own
 * (RFC 9113 §8.3), and a value may not hold CR, LF or NUL nor start or end with whitespace
 * (RFC 9113 §8.2.1). Node throws for some of these and sends others for the peer to reset the
 * stream on, so whatever an application passes is cleaned here first.
 */
import type { OutgoingHttpHeaders } from 'node:http2';

/** RFC 9110 §5.6.2 token characters (upper case letters included; names are lowered first). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/**
 * RFC 9113 §8.2.2: "An endpoint MUST NOT generate an HTTP/2 message containing connection-specific
 * header fields" (`te` is allowed only as `trailers`, which means nothing on a response); a
 * `content-length` would contradict the empty body of a refusal.
 */
const NOT_SENT = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'http2-settings', 'content-length']);

/** Characters that may not appear in a field value (controls but HTAB, DEL, and anything beyond Latin-1). */
const NOT_FIELD_CHAR = /[^\t\x20-\x7e\x80-\xff]/g;

/**
 * The `:status` of a refusal. WebSocketRequest's rule (403 unless a number is given) first; then a
 * status HTTP/2 cannot send or that would not refuse becomes 500: RFC 8441 §5 makes any 2xx
 * response open the WebSocket, and HTTP/2 has no 101 and no other final 1xx (RFC 9113 §8.1).
 */
export function refusalStatus(status: unknown): number {
  const code = typeof status === 'number' ? status : 403;
  return Number.isInteger(code) && code >= 300 && code <= 599 ? code : 500;
}

/** A field value HTTP/2 can carry: characters it may not hold are removed, and the ends trimmed. */
export function fieldValue(value: unknown): string {
  return String(value).replace(NOT_FIELD_CHAR, '').trim();
}

/**
 * Adds an application's extra headers (`reject()`'s third argument) to `into`, lower-cased; names
 * that are not tokens, pseudo-header fields and the fields listed above are left out.
 */
export function addExtraHeaders(into: OutgoingHttpHeaders, extra: object | undefined | null): void {
  if (extra === undefined || extra === null) return;
  const fields = extra as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    const name = key.toLowerCase();
    if (!TOKEN.test(name) || NOT_SENT.has(name)) continue;
    const value = fields[key];
    if (value === undefined || value === null) continue;
    into[name] = Array.isArray(value) ? value.map(fieldValue) : fieldValue(value);
  }
}

/** The values of the `Set-Cookie: ...\r\n` lines `formatSetCookies()` renders, one per cookie. */
export function setCookieValues(lines: string): string[] {
  const values: string[] = [];
  for (const line of lines.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon !== -1) values.push(fieldValue(line.slice(colon + 1)));
  }
  return values;
}
