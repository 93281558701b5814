/** Checks the server's 101 response (RFC 6455 §4.1, "the client MUST validate the server's response"). */
import type { IncomingHttpHeaders } from 'node:http';
import { computeAcceptKey } from './accept-key';
import { headerHasToken } from './upgrade-checks';

/** The protocol the server chose, or the WebSocket-Node error text that fails the handshake. */
export type ResponseCheck = { ok: true; protocol: string | undefined } | { ok: false; message: string };

/** The subprotocol the server selected, checked against the ones asked for (RFC 6455 §4.1 item 6; RFC 8441 §5 keeps it). */
export function checkSelectedProtocol(headers: IncomingHttpHeaders, requestedProtocols: readonly string[]): ResponseCheck {
  let protocol: string | undefined;
  if (requestedProtocols.length > 0) {
    const selected = headers['sec-websocket-protocol'];
    protocol = Array.isArray(selected) ? selected.join(', ') : selected;
    if (!protocol) return { ok: false, message: 'Expected a Sec-WebSocket-Protocol header.' };
    // RFC 6455 §4.1 item 6: the protocol must be one the client asked for.
    if (!requestedProtocols.includes(protocol)) return { ok: false, message: 'Server did not respond with a requested protocol.' };
  }
  return { ok: true, protocol };
}

/** Validates the response headers in WebSocket-Node's order and with its messages. */
export function checkServerResponse(headers: IncomingHttpHeaders, key: string, requestedProtocols: readonly string[]): ResponseCheck {
  const selected = checkSelectedProtocol(headers, requestedProtocols);
  if (selected.ok === false) return selected;
  const protocol = selected.protocol;
  // compat fix: WebSocket-Node demanded exactly "upgrade"; RFC 7230 allows a token list.
  if (!headerHasToken(headers.connection, 'upgrade')) {
    return { ok: false, message: 'Expected a Connection: Upgrade header from the server' };
  }
  const upgrade = headers.upgrade;
  if (!(upgrade !== undefined && upgrade.toLocaleLowerCase() === 'websocket')) {
    return { ok: false, message: 'Expected an Upgrade: websocket header from the server' };
  }
  const expected = computeAcceptKey(key);
  const accept = headers['sec-websocket-accept'];
  if (!accept) return { ok: false, message: 'Expected Sec-WebSocket-Accept header from server' };
  if (accept !== expected) {
    return { ok: false, message: `Sec-WebSocket-Accept header from server didn't match expected value of ${expected}` };
  }
  return { ok: true, protocol };
}
