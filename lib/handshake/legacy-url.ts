/** A legacy `url.Url` for a request target, built without `url.parse()` (deprecated, DEP0169). */
import { parse as parseQuery } from 'node:querystring';
import * as nodeUrl from 'node:url';
import type { Url } from 'node:url';

// `Url` is a class at run time, though @types/node declares only its interface.
const UrlClass = (nodeUrl as unknown as { Url: new () => Url }).Url;

/**
 * What `url.parse(resource, true)` returned for an origin-form request target ("/path?query#hash"):
 * WebSocket-Node exposes it as `request.resourceURL`, and users read `pathname` and `query`.
 */
export function legacyResourceUrl(resource: string): Url {
  const result = new UrlClass();
  let rest = resource;
  const hashAt = rest.indexOf('#');
  if (hashAt !== -1) {
    result.hash = rest.slice(hashAt);
    rest = rest.slice(0, hashAt);
  }
  const queryAt = rest.indexOf('?');
  let pathname = rest;
  let search = '';
  if (queryAt !== -1) {
    pathname = rest.slice(0, queryAt);
    search = rest.slice(queryAt);
  }
  result.search = search;
  result.query = parseQuery(search.slice(1));
  result.pathname = pathname === '' ? null : pathname;
  result.path = pathname + search === '' ? null : pathname + search;
  result.href = resource;
  return result;
}
