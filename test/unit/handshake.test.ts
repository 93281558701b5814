import * as fs from 'node:fs';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import * as url from 'node:url';
import { computeAcceptKey, generateKey, isWellFormedKey } from '../../lib/handshake/accept-key';
import { parseExtensionList, splitHeaderList, findIllegalTokenChar, stripCrLf } from '../../lib/handshake/header-values';
import { parseCookieHeader, formatSetCookies } from '../../lib/handshake/cookies';
import { reasonPhrase } from '../../lib/handshake/http-status';
import { legacyResourceUrl } from '../../lib/handshake/legacy-url';
import { parseClientUrl } from '../../lib/handshake/client-url';
import { checkServerResponse } from '../../lib/handshake/client-response';
import { checkUpgradeRequest, headerHasToken } from '../../lib/handshake/upgrade-checks';
import { legacyUrlParse } from '../helpers/legacy-url-parse';

const UpstreamRequest = require('websocket-upstream/lib/WebSocketRequest') as {
  prototype: { parseExtensions(s: unknown): unknown; parseCookies(s: unknown): unknown };
};

/** Plain-object copy, so prototype-less objects (querystring) and `undefined` keys compare by value. */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('accept key (RFC 6455 §1.3)', () => {
  test('the RFC example', () => {
    expect(computeAcceptKey('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  test('generateKey is base64 of 16 fresh random bytes', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const key = generateKey();
      expect(key).toMatch(/^[A-Za-z0-9+/]{22}==$/);
      expect(Buffer.from(key, 'base64').length).toBe(16);
      expect(isWellFormedKey(key)).toBe(true);
      keys.add(key);
    }
    expect(keys.size).toBe(50);
  });

  test('isWellFormedKey', () => {
    expect(isWellFormedKey('dGhlIHNhbXBsZSBub25jZQ==')).toBe(true);
    for (const bad of ['', 'abc', 'dGhlIHNhbXBsZSBub25jZQ', 'dGhlIHNhbXBsZSBub25jZQ=', Buffer.alloc(17).toString('base64'), 'dGhlIHNhbXBsZSBub25jZ*==']) {
      expect(isWellFormedKey(bad)).toBe(false);
    }
    // Every position: a base64url digit, a space, a non-ASCII letter or a misplaced "=" is refused.
    const good = 'dGhlIHNhbXBsZSBub25jZQ==';
    for (let at = 0; at < 24; at++) {
      for (const ch of ['-', '_', ' ', 'é', at < 22 ? '=' : 'A']) {
        expect([at, ch, isWellFormedKey(good.slice(0, at) + ch + good.slice(at + 1))]).toEqual([at, ch, false]);
      }
    }
    // Every base64 digit is taken anywhere in the first 22.
    const digits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    for (const ch of digits) expect(isWellFormedKey(ch.repeat(22) + '==')).toBe(true);
    expect(isWellFormedKey(good + ' ')).toBe(false);
  });
});

describe('parseExtensionList (WebSocket-Node parseExtensions)', () => {
  test('the verified example', () => {
    expect(parseExtensionList('permessage-deflate; client_max_window_bits, x-foo;a=1;b')).toEqual([
      { name: 'permessage-deflate', params: [{ name: 'client_max_window_bits' }] },
      { name: 'x-foo', params: [{ name: 'a', value: '1' }, { name: 'b' }] },
    ]);
  });

  test('empty and missing headers give []', () => {
    expect(parseExtensionList('')).toEqual([]);
    expect(parseExtensionList(undefined)).toEqual([]);
    expect(parseExtensionList(null)).toEqual([]);
  });

  test.each([
    'permessage-deflate; client_max_window_bits, x-foo;a=1;b',
    'Permessage-Deflate; Server_No_Context_Takeover',
    'a, b, c',
    'x; y="quoted value"; z=1=2',
    'one;two;three',
  ])('same result as upstream for %j', (header) => {
    expect(plain(parseExtensionList(header))).toEqual(plain(UpstreamRequest.prototype.parseExtensions(header)));
  });
});

describe('parseCookieHeader (WebSocket-Node parseCookies)', () => {
  test('the verified example', () => {
    expect(parseCookieHeader('a=1; b="two%20x"; c')).toEqual([
      { name: 'a', value: '1' },
      { name: 'b', value: 'two x' },
      { name: 'c', value: null },
    ]);
  });

  test('a comma separates cookies too', () => {
    expect(parseCookieHeader('a=1,b=2')).toEqual([
      { name: 'a', value: '1' },
      { name: 'b', value: '2' },
    ]);
  });

  test('non-strings and empty strings give []', () => {
    expect(parseCookieHeader('')).toEqual([]);
    expect(parseCookieHeader(undefined)).toEqual([]);
    expect(parseCookieHeader(42)).toEqual([]);
  });

  test('a bad % escape throws a URIError', () => {
    let caught: unknown;
    try {
      parseCookieHeader('a=%E0%A4%A');
    } catch (error) {
      caught = error;
    }
    // URIError from the global decodeURIComponent of whichever realm; compare by name.
    expect((caught as Error | undefined)?.name).toBe('URIError');
  });

  test.each(['a=1; b="two%20x"; c', 'x = y ; z="q"', 'k=v=w', 'sp ace=1', 'a=1;b=2,c=3', 'e=%C3%A9'])(
    'same result as upstream for %j',
    (header) => {
      expect(plain(parseCookieHeader(header))).toEqual(plain(UpstreamRequest.prototype.parseCookies(header)));
    },
  );
});

describe('formatSetCookies', () => {
  test('the verified full cookie', () => {
    const out = formatSetCookies([
      { name: 'a', value: 'b', path: '/', domain: 'Ex.COM', expires: new Date(0), maxage: 10.6, secure: true, httponly: true },
    ]);
    expect(out).toBe('Set-Cookie: a=b;Path=/;Domain=ex.com;Expires=Thu, 01 Jan 1970 00:00:00 GMT;Max-Age=11;Secure;HttpOnly\r\n');
  });

  test('one line per cookie; a numeric-string maxage; a quoted value', () => {
    expect(formatSetCookies([{ name: 'a', value: '1' }, { name: 'b', value: '"q"', maxage: '20' }])).toBe(
      'Set-Cookie: a=1\r\nSet-Cookie: b="q";Max-Age=20\r\n',
    );
    expect(formatSetCookies([])).toBe('');
  });

  test('controls, spaces and ";" are stripped from name and value in place', () => {
    const cookie = { name: 'n m', value: 'b c;d' };
    expect(formatSetCookies([cookie])).toBe('Set-Cookie: nm=bcd\r\n');
    expect(cookie).toEqual({ name: 'nm', value: 'bcd' });
  });

  test.each<[string, unknown]>([
    ['Value supplied for "cookies" argument must be an array.', { name: 'a', value: 'b' }],
    ['Each cookie to set must at least provide a "name" and "value"', [{ name: 'a' }]],
    ['Each cookie to set must at least provide a "name" and "value"', [{ name: 'a', value: '' }]],
    ['Each cookie to set must at least provide a "name" and "value"', [{ value: 'b' }]],
    ['You may not specify the same cookie name twice.', [{ name: 'a', value: '1' }, { name: 'a', value: '2' }]],
    ['Illegal character = in cookie name', [{ name: 'a=b', value: '1' }]],
    ['Illegal character ( in cookie name', [{ name: 'a(', value: '1' }]],
    ['Illegal character " in cookie value', [{ name: 'a', value: 'x"y' }]],
    ['Illegal character , in cookie value', [{ name: 'a', value: 'x,y' }]],
    ['Illegal character \\ in cookie value', [{ name: 'a', value: 'x\\y' }]],
    ['Illegal character \u00e9 in cookie value', [{ name: 'a', value: 'caf\u00e9' }]],
    ['Illegal character ; in cookie path', [{ name: 'a', value: '1', path: '/a;b' }]],
    ['Illegal character   in cookie path', [{ name: 'a', value: '1', path: '/a b' }]],
    ['Domain must be specified and must be a string.', [{ name: 'a', value: '1', domain: 5 }]],
    ['Illegal character ; in cookie domain', [{ name: 'a', value: '1', domain: 'a;b' }]],
    ['Value supplied for cookie "expires" must be a vaild date object', [{ name: 'a', value: '1', expires: 'tomorrow' }]],
    ['Value supplied for cookie "maxage" must be a non-zero number', [{ name: 'a', value: '1', maxage: -1 }]],
    ['Value supplied for cookie "maxage" must be a non-zero number', [{ name: 'a', value: '1', maxage: 'soon' }]],
    ['Value supplied for cookie "secure" must be of type boolean', [{ name: 'a', value: '1', secure: 'yes' }]],
    ['Value supplied for cookie "httponly" must be of type boolean', [{ name: 'a', value: '1', httponly: 1 }]],
  ])('refuses with %j', (message, cookies) => {
    expect(() => formatSetCookies(cookies)).toThrow(message);
  });

  test('falsy optional attributes are simply left out', () => {
    expect(formatSetCookies([{ name: 'a', value: '1', path: '', domain: '', maxage: 0, secure: false, httponly: false }])).toBe(
      'Set-Cookie: a=1\r\n',
    );
  });
});

describe('reasonPhrase', () => {
  test("WebSocket-Node's wordings", () => {
    expect(reasonPhrase(400)).toBe('Bad Request');
    expect(reasonPhrase(403)).toBe('Forbidden');
    expect(reasonPhrase(407)).toBe('Proxy Authorization Required');
    expect(reasonPhrase(413)).toBe('Request Entity Too Long');
    expect(reasonPhrase(414)).toBe('Request-URI Too Long');
    expect(reasonPhrase(416)).toBe('Requested Range Not Satisfiable');
    expect(reasonPhrase(426)).toBe('Upgrade Required');
    expect(reasonPhrase(500)).toBe('Internal Server Error');
  });

  test("codes upstream lacked come from Node's table", () => {
    expect(reasonPhrase(429)).toBe('Too Many Requests');
    for (const code of [202, 405, 418, 421, 422, 429, 431, 451]) expect(reasonPhrase(code)).toBe(STATUS_CODES[code]);
  });

  test('every code in upstream\'s table keeps its exact text', () => {
    const source = fs.readFileSync(require.resolve('websocket-upstream/lib/WebSocketRequest.js'), 'utf8');
    const table = source.slice(source.indexOf('var httpStatusDescriptions'), source.indexOf('};', source.indexOf('var httpStatusDescriptions')));
    const entries = [...table.matchAll(/(\d{3}):\s*'([^']*)'/g)].map((m) => [Number(m[1]), m[2]] as const);
    expect(entries.length).toBeGreaterThan(30);
    for (const [code, text] of entries) expect([code, reasonPhrase(code)]).toEqual([code, text]);
  });
});

describe('legacyResourceUrl', () => {
  test("'/a/b?x=1&y=2#h' fields", () => {
    const u = legacyResourceUrl('/a/b?x=1&y=2#h');
    expect(u.pathname).toBe('/a/b');
    expect(u.search).toBe('?x=1&y=2');
    expect(plain(u.query)).toEqual({ x: '1', y: '2' });
    expect(u.hash).toBe('#h');
    expect(u.path).toBe('/a/b?x=1&y=2');
    expect(u.href).toBe('/a/b?x=1&y=2#h');
    expect(u.protocol).toBeNull();
    expect(u.host).toBeNull();
    expect(u).toBeInstanceOf((url as unknown as { Url: new () => url.Url }).Url);
  });

  test('repeated keys give arrays, as querystring does', () => {
    expect(plain(legacyResourceUrl('/p?a=1&a=2&b').query)).toEqual({ a: ['1', '2'], b: '' });
  });

  test.each(['/', '/chat', '/a/b?x=1&y=2#h', '/?', '/p?a=1&a=2', '/p#', '/p?q#h', '/%7Euser?x=%20'])(
    'the same fields as url.parse(%j, true)',
    (resource) => {
      const ours = legacyResourceUrl(resource);
      const legacy = legacyUrlParse(resource, true);
      for (const key of ['protocol', 'slashes', 'auth', 'host', 'port', 'hostname', 'hash', 'search', 'pathname', 'path', 'href'] as const) {
        expect([key, ours[key]]).toEqual([key, legacy[key]]);
      }
      expect(plain(ours.query)).toEqual(plain(legacy.query));
    },
  );
});

describe('parseClientUrl', () => {
  test('IPv6 literal: hostname without brackets', () => {
    const u = parseClientUrl('ws://[::1]:8080/p?q');
    expect([u.protocol, u.hostname, u.port, u.host, u.path, u.pathname, u.search, u.query]).toEqual([
      'ws:',
      '::1',
      '8080',
      '[::1]:8080',
      '/p?q',
      '/p',
      '?q',
      'q',
    ]);
  });

  test('ws and wss with default ports, auth and hash', () => {
    const a = parseClientUrl('ws://example.com');
    expect([a.protocol, a.hostname, a.port, a.path, a.pathname]).toEqual(['ws:', 'example.com', null, '/', '/']);
    const b = parseClientUrl('wss://user:pw@Example.COM:8443/chat?room=1#top');
    expect([b.protocol, b.auth, b.hostname, b.port, b.path, b.hash]).toEqual(['wss:', 'user:pw', 'example.com', '8443', '/chat?room=1', '#top']);
  });

  test('a WHATWG URL keeps its path and query', () => {
    const u = parseClientUrl(new URL('ws://h:1/x/y?z=1'));
    expect([u.hostname, u.port, u.path]).toEqual(['h', '1', '/x/y?z=1']);
  });

  test.each(['ws://[::1]:8080/p?q', 'ws://example.com', 'wss://h/a/b?c=d&e#f', 'ws://user:pw@host.com:80/a?b#c', 'ws://127.0.0.1:9000/'])(
    'the same fields as url.parse(%j)',
    (input) => {
      const ours = parseClientUrl(input);
      const legacy = legacyUrlParse(input);
      for (const key of ['protocol', 'slashes', 'auth', 'hostname', 'port', 'host', 'hash', 'search', 'query', 'pathname', 'path'] as const) {
        expect([key, ours[key]]).toEqual([key, legacy[key]]);
      }
    },
  );

  test('no scheme → the protocol error', () => {
    for (const input of ['/path', 'example.com/x', '//example.com/x', '']) {
      expect(() => parseClientUrl(input)).toThrow('You must specify a full WebSocket URL, including protocol.');
    }
  });

  // url.parse (which WebSocket-Node used) finds no host in any of these; a WHATWG parser would read
  // the path of the first three as a host name ("ws:///path" → host "path").
  test.each(['ws:///path', 'ws:/path', 'ws:path', 'ws:', 'ws://'])('no host in %j → the hostname error', (input) => {
    expect(() => parseClientUrl(input)).toThrow(
      'You must specify a full WebSocket URL, including hostname. Relative URLs are not supported.',
    );
  });

  test('an explicit default port is kept, as url.parse keeps it', () => {
    expect([parseClientUrl('ws://h:80/').port, parseClientUrl('ws://h:80/').host]).toEqual(['80', 'h:80']);
    expect([parseClientUrl('wss://h:443/').port, parseClientUrl('wss://h:443/').host]).toEqual(['443', 'h:443']);
  });
});

describe('checkServerResponse (WebSocket-Node order and messages)', () => {
  const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
  const GOOD = {
    connection: 'Upgrade',
    upgrade: 'websocket',
    'sec-websocket-accept': 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=',
    'sec-websocket-protocol': 'chat',
  };

  test('a good response', () => {
    expect(checkServerResponse(GOOD, KEY, ['chat', 'superchat'])).toEqual({ ok: true, protocol: 'chat' });
  });

  test('without requested protocols the server protocol is ignored', () => {
    expect(checkServerResponse(GOOD, KEY, [])).toEqual({ ok: true, protocol: undefined });
  });

  test('each failure, in order', () => {
    const steps: [Record<string, string | undefined>, string][] = [
      [{ 'sec-websocket-protocol': undefined }, 'Expected a Sec-WebSocket-Protocol header.'],
      [{ 'sec-websocket-protocol': 'Chat' }, 'Server did not respond with a requested protocol.'],
      [{ connection: undefined }, 'Expected a Connection: Upgrade header from the server'],
      [{ connection: 'keep-alive' }, 'Expected a Connection: Upgrade header from the server'],
      [{ upgrade: undefined }, 'Expected an Upgrade: websocket header from the server'],
      [{ upgrade: 'h2c' }, 'Expected an Upgrade: websocket header from the server'],
      [{ 'sec-websocket-accept': undefined }, 'Expected Sec-WebSocket-Accept header from server'],
      [{ 'sec-websocket-accept': 'wrong' }, "Sec-WebSocket-Accept header from server didn't match expected value of s3pPLMBiTxaQ9kYGzzhZRbK+xOo="],
    ];
    for (const [change, message] of steps) {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries({ ...GOOD, ...change })) if (v !== undefined) headers[k] = v;
      expect(checkServerResponse(headers, KEY, ['chat'])).toEqual({ ok: false, message });
    }
    // With everything broken at once, the first check in the order wins.
    expect(checkServerResponse({}, KEY, ['chat'])).toEqual({ ok: false, message: 'Expected a Sec-WebSocket-Protocol header.' });
    expect(checkServerResponse({}, KEY, [])).toEqual({ ok: false, message: 'Expected a Connection: Upgrade header from the server' });
  });

  test('header values are compared case-insensitively; Connection may be a token list', () => {
    expect(checkServerResponse({ ...GOOD, connection: 'keep-alive, UPGRADE', upgrade: 'WebSocket' }, KEY, ['chat']).ok).toBe(true);
  });
});

describe('checkUpgradeRequest', () => {
  const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
  const request = (over: { method?: string; major?: number; minor?: number; headers?: Record<string, string | undefined> } = {}) =>
    ({
      method: over.method ?? 'GET',
      httpVersionMajor: over.major ?? 1,
      httpVersionMinor: over.minor ?? 1,
      headers: { upgrade: 'websocket', connection: 'Upgrade', ...over.headers },
    }) as unknown as IncomingMessage;

  test('a good request passes', () => {
    expect(checkUpgradeRequest(request(), KEY)).toBeNull();
    expect(checkUpgradeRequest(request({ major: 2, minor: 0 }), KEY)).toBeNull();
    expect(checkUpgradeRequest(request({ headers: { connection: 'keep-alive, Upgrade', upgrade: 'WebSocket' } }), KEY)).toBeNull();
  });

  test('POST → 405 with Allow: GET', () => {
    expect(checkUpgradeRequest(request({ method: 'POST' }), KEY)).toEqual({
      httpCode: 405,
      message: 'WebSocket upgrades must use the GET method.',
      headers: { Allow: 'GET' },
    });
  });

  test('HTTP/1.0 → 400', () => {
    expect(checkUpgradeRequest(request({ major: 1, minor: 0 }), KEY)).toEqual({
      httpCode: 400,
      message: 'WebSocket upgrades require HTTP/1.1 or later.',
    });
  });

  test('no websocket token in Upgrade → 400', () => {
    for (const upgrade of [undefined, 'h2c', 'websockets']) {
      expect(checkUpgradeRequest(request({ headers: { upgrade } }), KEY)).toEqual({
        httpCode: 400,
        message: 'The Upgrade header must contain "websocket".',
      });
    }
  });

  test('no upgrade token in Connection → 400', () => {
    for (const connection of [undefined, 'keep-alive', 'upgraded']) {
      expect(checkUpgradeRequest(request({ headers: { connection } }), KEY)).toEqual({
        httpCode: 400,
        message: 'The Connection header must contain "Upgrade".',
      });
    }
  });

  test('a key that is not base64 of 16 bytes → 400', () => {
    for (const key of ['short', Buffer.alloc(15).toString('base64'), Buffer.alloc(17).toString('base64')]) {
      expect(checkUpgradeRequest(request(), key)).toEqual({
        httpCode: 400,
        message: 'Sec-WebSocket-Key must be the base64 encoding of 16 bytes.',
      });
    }
  });

  test('the checks run in order: method, version, Upgrade, Connection, key', () => {
    const all = request({ method: 'PUT', major: 1, minor: 0, headers: { upgrade: undefined, connection: undefined } });
    expect(checkUpgradeRequest(all, 'bad')?.httpCode).toBe(405);
    const noMethod = request({ major: 1, minor: 0, headers: { upgrade: undefined, connection: undefined } });
    expect(checkUpgradeRequest(noMethod, 'bad')?.message).toBe('WebSocket upgrades require HTTP/1.1 or later.');
    const onlyHeaders = request({ headers: { upgrade: undefined, connection: undefined } });
    expect(checkUpgradeRequest(onlyHeaders, 'bad')?.message).toBe('The Upgrade header must contain "websocket".');
    expect(checkUpgradeRequest(request({ headers: { connection: undefined } }), 'bad')?.message).toBe(
      'The Connection header must contain "Upgrade".',
    );
  });
});

describe('small header helpers', () => {
  test('headerHasToken', () => {
    expect(headerHasToken('keep-alive, Upgrade', 'upgrade')).toBe(true);
    expect(headerHasToken(['keep-alive', 'upgrade'], 'upgrade')).toBe(true);
    expect(headerHasToken('upgraded', 'upgrade')).toBe(false);
    expect(headerHasToken(undefined, 'upgrade')).toBe(false);
  });

  test('headerHasToken: optional whitespace, empty items, case, position', () => {
    const yes = ['upgrade', 'UPGRADE', '\tUpgrade\t', 'keep-alive,upgrade', ',, upgrade ,', 'Upgrade, keep-alive', 'a,\t upGRade \t,b'];
    for (const value of yes) expect([value, headerHasToken(value, 'upgrade')]).toEqual([value, true]);
    const no = ['', ',', ' , ', 'upgrad', 'pgrade', 'up grade', 'upgrade-x', 'x-upgrade', 'keep-alive, upgrades', 'upgrade\u00a0'];
    for (const value of no) expect([value, headerHasToken(value, 'upgrade')]).toEqual([value, false]);
    expect(headerHasToken(['keep-alive', '', ' WebSocket '], 'websocket')).toBe(true);
    expect(headerHasToken([], 'websocket')).toBe(false);
  });

  test('splitHeaderList, findIllegalTokenChar, stripCrLf', () => {
    expect(splitHeaderList('a, b,c')).toEqual(['a', 'b', 'c']);
    expect(findIllegalTokenChar('chat.v1')).toBeNull();
    expect(findIllegalTokenChar('a b')).toBe(' ');
    expect(findIllegalTokenChar('a/b')).toBe('/');
    expect(findIllegalTokenChar('caf\u00e9')).toBe('\u00e9');
    expect(stripCrLf('a\r\nb\nc\r')).toBe('abc');
  });
});
