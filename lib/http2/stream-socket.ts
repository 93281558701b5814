/**
 * Lets an HTTP/2 stream (accepted by a server, or opened by a client) stand where
 * WebSocketConnection expects a `net.Socket`. RFC 8441 §5: once the 2xx response is sent, the
 * stream's DATA frames carry the WebSocket bytes, END_STREAM plays the part of TCP's FIN and RST_STREAM that of TCP's RST. An `Http2Stream` is already a Duplex
 * with exactly those semantics (`end()` sends END_STREAM, `destroy()` RST_STREAM, a peer's reset
 * ends it with 'close', or 'error' for codes other than CANCEL), with its own flow control
 * (`pause()` stops the stream's window updates), `setTimeout()`, `cork()` and write callbacks.
 * What it lacks of a socket is added to the stream object itself, so no second stream (and no
 * second write buffer) sits between the connection and the session:
 * - `setNoDelay()` and `setKeepAlive()` are no-ops: Nagle and TCP keepalive belong to the
 *   session's TCP connection, shared by every stream, and Node does not let a stream reach it
 *   (its `session.socket` proxy throws on both). WebSocket keepalive pings (`keepalive: true`) work.
 * - `remoteAddress`, `remotePort`, `remoteFamily`, `localAddress` and `localPort` are the session
 *   socket's, read once (the session's socket cannot be read after it is gone).
 */
import type { Http2Stream } from 'node:http2';
import type { Socket } from 'node:net';

/** The address fields of a socket that a stream does not have. */
const ADDRESS_KEYS = ['remoteAddress', 'remotePort', 'remoteFamily', 'localAddress', 'localPort'] as const;
type AddressKey = (typeof ADDRESS_KEYS)[number];

/** Marks a stream this module has already adapted. */
const kAdapted = Symbol('websocket-http2-socket');

/** The stream, with the socket members WebSocketConnection and applications use (see the module comment). */
export function streamAsSocket(stream: Http2Stream): Socket {
  const target = stream as unknown as Record<PropertyKey, unknown>;
  if (target[kAdapted] === true) return stream as unknown as Socket;
  const descriptors: PropertyDescriptorMap = { [kAdapted]: { value: true } };
  // Only what is missing: a Node release that gives streams one of these keeps its own.
  if (typeof target['setNoDelay'] !== 'function') descriptors['setNoDelay'] = method(returnThis);
  if (typeof target['setKeepAlive'] !== 'function') descriptors['setKeepAlive'] = method(returnThis);
  const addresses = sessionAddresses(stream);
  for (const key of ADDRESS_KEYS) {
    if (!(key in stream)) descriptors[key] = { value: addresses[key], writable: true, configurable: true };
  }
  Object.defineProperties(stream, descriptors);
  return stream as unknown as Socket;
}

/** A non-enumerable method property, replaceable as a socket's own methods are. */
function method(fn: (this: unknown) => unknown): PropertyDescriptor {
  return { value: fn, writable: true, configurable: true };
}

/** `socket.setNoDelay()` and `socket.setKeepAlive()` return the socket. */
function returnThis(this: unknown): unknown {
  return this;
}

/** The session socket's addresses; none when the session has already lost its socket. */
function sessionAddresses(stream: Http2Stream): Partial<Record<AddressKey, string | number | undefined>> {
  try {
    const socket = (stream.session as { socket?: Partial<Record<AddressKey, string | number>> } | undefined)?.socket;
    if (socket === undefined) return {};
    return {
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      remoteFamily: socket.remoteFamily,
      localAddress: socket.localAddress,
      localPort: socket.localPort,
    };
  } catch {
    // ERR_HTTP2_SOCKET_UNBOUND: the session's socket is gone already.
    return {};
  }
}
