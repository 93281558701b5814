/** Turns what `client.connect()` is given into the legacy `url.Url` WebSocket-Node exposes as `client.url`. */
import * as nodeUrl from 'node:url';
import type { Url } from 'node:url';

// `Url` is a class at run time, though @types/node declares only its interface.
const UrlClass = (nodeUrl as unknown as { Url: new () => Url }).Url;

/**
 * Parses a WebSocket URL string (or converts a WHATWG `URL`) into a legacy Url without `url.parse()`
 * (deprecated, DEP0169), throwing WebSocket-Node's messages for a missing scheme or host. compat fix:
 * a WHATWG `URL` keeps its path and query (WebSocket-Node sent such requests to "/").
 */
export function parseClientUrl(input: string | URL): Url {
  const text = typeof input === 'string' ? input.trim() : input.href;
  if (!/^[a-z][a-z0-9+.-]*:/i.test(text)) {
    throw new Error('You must specify a full WebSocket URL, including protocol.');
  }
  // `new URL('ws:chat')` would invent the host "chat"; like url.parse(), require "//" and a host.
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/?#]/i.test(text)) {
    throw new Error('You must specify a full WebSocket URL, including hostname. Relative URLs are not supported.');
  }
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw new Error('You must specify a full WebSocket URL, including hostname. Relative URLs are not supported.');
  }
  if (parsed.host === '') {
    throw new Error('You must specify a full WebSocket URL, including hostname. Relative URLs are not supported.');
  }
  // WHATWG URL drops an explicit default port (ws://h:80/); url.parse() kept it, and so do we.
  const explicitPort = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(?:\[[^\]]*\]|[^:/?#]*):([0-9]+)/i.exec(text)?.[1];
  const port = parsed.port !== '' ? parsed.port : explicitPort !== undefined && explicitPort !== '' ? String(Number(explicitPort)) : null;
  const result = new UrlClass();
  result.protocol = parsed.protocol;
  result.slashes = true;
  result.auth = parsed.username === '' ? null : decodeURIComponent(parsed.username) + (parsed.password === '' ? '' : ':' + decodeURIComponent(parsed.password));
  // Legacy Urls give IPv6 hostnames without brackets; `host` keeps them.
  result.hostname = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  result.port = port;
  result.host = port !== null && parsed.port === '' ? `${parsed.host}:${port}` : parsed.host;
  result.hash = parsed.hash === '' ? null : parsed.hash;
  result.search = parsed.search === '' ? null : parsed.search;
  result.query = parsed.search === '' ? null : parsed.search.slice(1);
  result.pathname = parsed.pathname === '' ? '/' : parsed.pathname;
  result.path = result.pathname + parsed.search;
  const auth = result.auth === null ? '' : `${parsed.username}${parsed.password === '' ? '' : ':' + parsed.password}@`;
  result.href = `${parsed.protocol}//${auth}${result.host}${result.path}${parsed.hash}`;
  return result;
}
