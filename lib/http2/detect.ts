/**
 * Recognises the http2 servers a WebSocketServer can be mounted on. `node:http2` is loaded only when
 * a server already looks like one (it has `updateSettings()`): an HTTP/1.1-only application never
 * pays for loading the module.
 */
import type * as http2 from 'node:http2';

/** An `http2.createServer()` (h2c) or `http2.createSecureServer()` server. */
export type Http2AnyServer = http2.Http2Server | http2.Http2SecureServer;

/** The constructors of the two server kinds, found once from throwaway instances. */
let serverClasses: Array<abstract new (...args: never[]) => object> | null = null;

/** The `node:http2` module, loaded on first use. */
export function http2Module(): typeof http2 {
  // A lazy require: see the module comment.
  return require('node:http2') as typeof http2;
}

/** Whether `server` is an http2 server (cleartext or TLS, with or without `allowHTTP1`). */
export function isHttp2Server(server: unknown): server is Http2AnyServer {
  if (typeof server !== 'object' || server === null) return false;
  // Cheap duck test first: only http2 servers have updateSettings() (http and https servers do not).
  if (typeof (server as { updateSettings?: unknown }).updateSettings !== 'function') return false;
  if (serverClasses === null) {
    const h2 = http2Module();
    // Node does not export the server classes; an unused instance's constructor is the class.
    serverClasses = [h2.createServer().constructor, h2.createSecureServer().constructor] as Array<
      abstract new (...args: never[]) => object
    >;
  }
  return serverClasses.some((serverClass) => server instanceof serverClass);
}
