/** Cookies in the opening handshake, with WebSocket-Node's parsing rules and Set-Cookie validation. */

/** A cookie read from the request's Cookie header. */
export interface RequestCookie {
  name: string;
  value: string | null;
}

/** A cookie to set with `accept()` (WebSocket-Node's ICookie). */
export interface SetCookie {
  name: string;
  value: string;
  path?: string | undefined;
  domain?: string | undefined;
  expires?: Date | undefined;
  maxage?: number | string | undefined;
  secure?: boolean | undefined;
  httponly?: boolean | undefined;
}

/**
 * WebSocket-Node's `parseCookies`: pairs split on `;` or `,`; a pair without `=` gets a null value;
 * a quoted value loses its quotes; values are URI-decoded (a bad `%` escape throws a URIError).
 */
export function parseCookieHeader(header: unknown): RequestCookie[] {
  if (typeof header !== 'string' || header === '') return [];
  return header.split(/[;,] */).map((pair): RequestCookie => {
    const eq = pair.indexOf('=');
    if (eq === -1) return { name: pair, value: null };
    const name = pair.slice(0, eq).trim();
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"')) value = value.slice(1, -1);
    return { name, value: decodeURIComponent(value) };
  });
}

// RFC 6265 §4.1.1: a cookie name is a token; a value is cookie-octets, optionally in one pair of quotes.
const NAME_ILLEGAL = /[\x00-\x20\x22\x28\x29\x2c\x2f\x3a-\x3f\x40\x5b-\x5e\x7b\x7d\x7f]/;
const VALUE_ILLEGAL = /[^\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]/;
const QUOTED_VALUE = /^"[^"]*"$/;
const CONTROLS_AND_SEMICOLON = /[\x00-\x20\x3b]/g;
const CONTROL_OR_SEMICOLON = /[\x00-\x20\x3b]/;

/**
 * Validates cookies and renders one `Set-Cookie` header line each, exactly as WebSocket-Node does
 * (and with its error messages). Like WebSocket-Node, it strips controls, spaces and `;` from the
 * cookies' names and values in place.
 */
export function formatSetCookies(cookies: unknown): string {
  if (!Array.isArray(cookies)) throw new Error('Value supplied for "cookies" argument must be an array.');
  const seen = new Set<string>();
  let lines = '';
  for (const cookie of cookies as SetCookie[]) {
    if (!cookie.name || !cookie.value) {
      throw new Error('Each cookie to set must at least provide a "name" and "value"');
    }
    cookie.name = String(cookie.name).replace(CONTROLS_AND_SEMICOLON, '');
    cookie.value = String(cookie.value).replace(CONTROLS_AND_SEMICOLON, '');
    if (seen.has(cookie.name)) throw new Error('You may not specify the same cookie name twice.');
    seen.add(cookie.name);
    let bad = NAME_ILLEGAL.exec(cookie.name);
    if (bad !== null) throw new Error(`Illegal character ${bad[0]} in cookie name`);
    bad = QUOTED_VALUE.test(cookie.value) ? VALUE_ILLEGAL.exec(cookie.value.slice(1, -1)) : VALUE_ILLEGAL.exec(cookie.value);
    if (bad !== null) throw new Error(`Illegal character ${bad[0]} in cookie value`);
    const parts = [`${cookie.name}=${cookie.value}`];
    if (cookie.path) {
      bad = CONTROL_OR_SEMICOLON.exec(cookie.path);
      if (bad !== null) throw new Error(`Illegal character ${bad[0]} in cookie path`);
      parts.push('Path=' + cookie.path);
    }
    if (cookie.domain) {
      if (typeof cookie.domain !== 'string') throw new Error('Domain must be specified and must be a string.');
      bad = CONTROL_OR_SEMICOLON.exec(cookie.domain);
      if (bad !== null) throw new Error(`Illegal character ${bad[0]} in cookie domain`);
      parts.push('Domain=' + cookie.domain.toLowerCase());
    }
    if (cookie.expires) {
      if (!(cookie.expires instanceof Date)) {
        // compat: WebSocket-Node 1.0.35 spells it "vaild".
        throw new Error('Value supplied for cookie "expires" must be a vaild date object');
      }
      parts.push('Expires=' + cookie.expires.toUTCString());
    }
    if (cookie.maxage) {
      const maxage = typeof cookie.maxage === 'string' ? parseInt(cookie.maxage, 10) : cookie.maxage;
      if (typeof maxage !== 'number' || isNaN(maxage) || maxage <= 0) {
        throw new Error('Value supplied for cookie "maxage" must be a non-zero number');
      }
      parts.push('Max-Age=' + Math.round(maxage).toString(10));
    }
    if (cookie.secure) {
      if (typeof cookie.secure !== 'boolean') throw new Error('Value supplied for cookie "secure" must be of type boolean');
      parts.push('Secure');
    }
    if (cookie.httponly) {
      if (typeof cookie.httponly !== 'boolean') {
        throw new Error('Value supplied for cookie "httponly" must be of type boolean');
      }
      parts.push('HttpOnly');
    }
    lines += `Set-Cookie: ${parts.join(';')}\r\n`;
  }
  return lines;
}
