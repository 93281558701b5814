/** A legacy `url.Url` for a request target, built without `url.parse()` (deprecated, DEP0169). */
import { parse as parseQuery } from 'node:querystring';
import * as nodeUrl from 'node:url';
import type { Url } from 'node:url';
import { parseClientUrl } from './client-url';

// `Url` is a class at run time, though @types/node declares only its interface.
const UrlClass = (nodeUrl as unknown as { Url: new () => Url }).Url;

/**
 * What `url.parse(resource, true)` returned for an origin-form request target ("/path?query#hash"):
 * WebSocket-Node exposes it as `request.resourceURL`, and users read `pathname` and `query`.
 */
export function legacyResourceUrl(resource: string): Url {
  // An absolute-form target (RFC 7230 §5.3.2, sent to proxies) is parsed as a full URL.
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]/i.test(resource)) {
    try {
      const absolute = parseClientUrl(resource);
      absolute.query = parseQuery(absolute.search === null ? '' : absolute.search.slice(1));
      return absolute;
    } catch {
      // Not a URL after all: handled as a path below.
    }
  }
  const result = new UrlClass();
  // url.parse() turns backslashes before the query into slashes, as browsers do.
  const queryStart = resource.search(/[?#]/);
  let rest = queryStart === -1 ? resource.replace(/\\/g, '/') : resource.slice(0, queryStart).replace(/\\/g, '/') + resource.slice(queryStart);
  const hashAt = rest.indexOf('#');
  if (hashAt !== -1) {
    result.hash = rest.slice(hashAt);
    rest = rest.slice(0, hashAt);
  }
  const queryAt = rest.indexOf('?');
  let pathname = rest;
  let search: string | null = null;
  if (queryAt !== -1) {
    pathname = rest.slice(0, queryAt);
    search = rest.slice(queryAt);
  }
  result.search = search;
  result.query = parseQuery(search === null ? '' : search.slice(1));
  result.pathname = pathname === '' ? null : pathname;
  const path = pathname + (search ?? '');
  result.path = path === '' ? null : path;
  result.href = rest + (result.hash ?? '');
  return result;
}
