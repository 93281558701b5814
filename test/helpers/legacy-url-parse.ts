import * as url from 'node:url';

/** The legacy Url class, which node:url exports but @types/node declares only as an interface. */
const UrlClass = (url as unknown as { Url: new () => url.Url & { parse(input: string, parseQueryString: boolean): void } }).Url;

/**
 * `url.parse(input, parseQueryString)`, for tests that use it as the reference (WebSocket-Node parsed
 * with it) or hand its result to the client as users do. Node 24 warns at run time when url.parse()
 * is called from outside node_modules (DEP0169), and .ci/node-versions.sh fails a run on any
 * deprecation warning; url.parse() is `new Url()` then `Url#parse`, so calling those gives the same
 * object without the warning.
 */
export function legacyUrlParse(input: string): url.UrlWithStringQuery;
export function legacyUrlParse(input: string, parseQueryString: true): url.UrlWithParsedQuery;
export function legacyUrlParse(input: string, parseQueryString = false): url.Url {
  const parsed = new UrlClass();
  parsed.parse(input, parseQueryString);
  return parsed;
}
