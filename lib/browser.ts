/**
 * The bundlers' entry ("browser" in package.json): hands out the platform's own WebSocket as
 * `w3cwebsocket` (or null where there is none), with WebSocket-Node's wrapper semantics.
 */
import version = require('./version');

/** The constructor of a native WebSocket. */
type NativeWebSocketConstructor = new (url: string, protocols?: string | string[]) => object;

const scope = globalThis as unknown as { WebSocket?: NativeWebSocketConstructor; MozWebSocket?: NativeWebSocketConstructor };
const NativeWebSocket = scope.WebSocket ?? scope.MozWebSocket;

/** Calls the native constructor with only the URL and protocols (other arguments are Node-only). */
function W3CWebSocket(uri: string, protocols?: string | string[]): object {
  if (NativeWebSocket === undefined) throw new Error('No native WebSocket in this environment.');
  return protocols ? new NativeWebSocket(uri, protocols) : new NativeWebSocket(uri);
}

if (NativeWebSocket !== undefined) {
  for (const name of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) {
    Object.defineProperty(W3CWebSocket, name, {
      get: () => (NativeWebSocket as unknown as Record<string, number>)[name],
    });
  }
}

export = { w3cwebsocket: NativeWebSocket !== undefined ? W3CWebSocket : null, version };
