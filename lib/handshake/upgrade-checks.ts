/**
 * RFC 6455 §4.2.1 requirements on the client's opening handshake that WebSocket-Node never checked
 * (it upgraded POST and HTTP/1.0 requests and accepted any key). Run after WebSocket-Node's own
 * checks, so the refusals it did give keep their order and text.
 */
import type { IncomingMessage } from 'node:http';
import { isWellFormedKey } from './accept-key';
import { equalsLowerCase } from './header-values';
import { requestHeader } from './request-headers';

/** A refusal: the status, message and extra headers of the HTTP answer. */
export interface UpgradeRefusal {
  readonly httpCode: number;
  readonly message: string;
  readonly headers?: Record<string, string>;
}

/** Whether a comma-separated header contains `token`, compared case-insensitively (RFC 7230 §7). */
export function headerHasToken(value: string | string[] | undefined, token: string): boolean {
  if (value === undefined) return false;
  if (Array.isArray(value)) return value.some((item) => listHasToken(item, token));
  return listHasToken(value, token);
}

/**
 * Scans one comma-separated value in place: every handshake runs this twice, and splitting,
 * trimming and lower-casing would make garbage for each connection. `token` is lower case.
 */
function listHasToken(list: string, token: string): boolean {
  let start = 0;
  while (start <= list.length) {
    let end = list.indexOf(',', start);
    if (end === -1) end = list.length;
    let from = start;
    let to = end;
    while (from < to && isOptionalWhitespace(list.charCodeAt(from))) from++;
    while (to > from && isOptionalWhitespace(list.charCodeAt(to - 1))) to--;
    if (to - from === token.length && equalsLowerCase(list, from, token)) return true;
    start = end + 1;
  }
  return false;
}

/** RFC 7230 §3.2.3 OWS: spaces and horizontal tabs. */
function isOptionalWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** Checks what WebSocket-Node did not; returns the refusal for the first broken rule, or null. */
export function checkUpgradeRequest(request: IncomingMessage, key: string): UpgradeRefusal | null {
  // RFC 6455 §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
  if (request.method !== 'GET') {
    return { httpCode: 405, message: 'WebSocket upgrades must use the GET method.', headers: { Allow: 'GET' } };
  }
  if (request.httpVersionMajor < 1 || (request.httpVersionMajor === 1 && request.httpVersionMinor < 1)) {
    return { httpCode: 400, message: 'WebSocket upgrades require HTTP/1.1 or later.' };
  }
  // RFC 6455 §4.2.1 items 3 and 4.
  if (!headerHasToken(requestHeader(request, 'upgrade'), 'websocket')) {
    return { httpCode: 400, message: 'The Upgrade header must contain "websocket".' };
  }
  if (!headerHasToken(requestHeader(request, 'connection'), 'upgrade')) {
    return { httpCode: 400, message: 'The Connection header must contain "Upgrade".' };
  }
  // RFC 6455 §4.2.1 item 5: the key "when decoded, is 16 bytes in length".
  if (!isWellFormedKey(key)) {
    return { httpCode: 400, message: 'Sec-WebSocket-Key must be the base64 encoding of 16 bytes.' };
  }
  return null;
}
