/**
 * The argument rules of the WHATWG WebSocketStream (WebIDL conversions and the WebSockets
 * Standard's checks), kept apart from the stream itself: the URL, the subprotocol list, the signal,
 * and the close code and reason that both `close()` and `new WebSocketError()` take.
 */

/** What `WebSocketStream#close()` and `new WebSocketError()` accept (WHATWG's WebSocketCloseInfo). */
export interface WebSocketCloseInfo {
  closeCode?: number | undefined;
  reason?: string | undefined;
}

/** The largest close reason a Close frame can carry: 125 bytes of payload minus the 2-byte code. */
const MAX_REASON_BYTES = 123;

/**
 * Converts and checks a close code and reason as the WHATWG WebSocketStream does: the code must be
 * 1000 or 3000-4999 ("InvalidAccessError"), the reason at most 123 UTF-8 bytes ("SyntaxError"),
 * and a reason without a code means 1000. Returns the code (null: none) and the reason.
 */
export function checkCloseInfo(info: unknown): { closeCode: number | null; reason: string } {
  if (info === undefined || info === null) return { closeCode: null, reason: '' };
  // WebIDL dictionary conversion: anything but an object (or nothing) is a TypeError.
  if (typeof info !== 'object' && typeof info !== 'function') {
    throw new TypeError('The close information must be an object such as { closeCode, reason }.');
  }
  const { closeCode: rawCode, reason: rawReason } = info as { closeCode?: unknown; reason?: unknown };
  let closeCode: number | null = null;
  if (rawCode !== undefined) {
    // [EnforceRange] unsigned short: a non-finite number or one outside 0-65535 is a TypeError.
    const number = Number(rawCode);
    if (!Number.isFinite(number) || Math.trunc(number) < 0 || Math.trunc(number) > 0xffff) {
      throw new TypeError(`The close code ${String(rawCode)} is not an unsigned short.`);
    }
    closeCode = Math.trunc(number);
    if (closeCode !== 1000 && (closeCode < 3000 || closeCode > 4999)) {
      throw new DOMException(`The close code must be 1000 or between 3000 and 4999; ${closeCode} is neither.`, 'InvalidAccessError');
    }
  }
  // USVString: a template literal converts like WebIDL (and throws a TypeError on a Symbol).
  const reason = rawReason === undefined ? '' : `${rawReason as string}`;
  if (Buffer.byteLength(reason, 'utf8') > MAX_REASON_BYTES) {
    throw new DOMException(`The close reason must not be longer than ${MAX_REASON_BYTES} bytes.`, 'SyntaxError');
  }
  if (closeCode === null && reason !== '') closeCode = 1000;
  return { closeCode, reason };
}

/** RFC 7230 token characters: what a subprotocol name may contain (RFC 6455 §4.1). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The WebSocket URL: http(s) mapped to ws(s), anything unparsable, other or with a fragment refused. */
export function parseTarget(url: string | URL): URL {
  let target: URL;
  try {
    target = new URL(String(url));
  } catch {
    throw new DOMException(`Invalid WebSocket URL: ${String(url)}`, 'SyntaxError');
  }
  if (target.protocol === 'http:') target.protocol = 'ws:';
  else if (target.protocol === 'https:') target.protocol = 'wss:';
  if (target.protocol !== 'ws:' && target.protocol !== 'wss:') {
    throw new DOMException(`A WebSocket URL must be ws: or wss:, not ${target.protocol}`, 'SyntaxError');
  }
  // An empty fragment ("#") counts too: the standard refuses any fragment, present at all.
  if (target.href.includes('#')) throw new DOMException('A WebSocket URL must not have a fragment.', 'SyntaxError');
  return target;
}

/** The subprotocol list: each a token, none twice (a "SyntaxError" otherwise, as the standard says). */
export function parseProtocols(protocols: string | readonly string[] | undefined): string[] {
  if (protocols === undefined) return [];
  const list = typeof protocols === 'string' ? [protocols] : Array.from(protocols, (protocol) => `${protocol}`);
  const seen = new Set<string>();
  for (const protocol of list) {
    if (!TOKEN.test(protocol)) throw new DOMException(`Invalid subprotocol name: ${JSON.stringify(protocol)}`, 'SyntaxError');
    if (seen.has(protocol)) throw new DOMException(`Subprotocol ${JSON.stringify(protocol)} is listed twice.`, 'SyntaxError');
    seen.add(protocol);
  }
  return list;
}

/** Duck-typed: an AbortSignal from another realm (a vm context, a test runner) fails instanceof. */
export function isAbortSignal(value: unknown): value is AbortSignal {
  const candidate = value as Partial<AbortSignal> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.aborted === 'boolean' &&
    typeof candidate.addEventListener === 'function' &&
    typeof candidate.removeEventListener === 'function'
  );
}
