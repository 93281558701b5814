/**
 * The server reads the handshake's headers from `rawHeaders` in place, without making Node build
 * `httpRequest.headers` (lib/handshake/request-headers.ts). What it reads must be exactly what
 * `headers` holds: duplicates, odd casing, Cookie's "; ", a dropped duplicate Host (joined under
 * joinDuplicateHeaders), and any change an application made to `headers` before the upgrade.
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { requestHeader, type HandshakeHeaderName } from '../../lib/handshake/request-headers';
import { cleanup, listenForTest, startServer, trackOpen, unmountOnCleanup, websocket, type WebSocketRequest } from '../helpers/server';
import { RawClient, buildHandshake, type HandshakeOptions } from '../helpers/raw-client';

afterEach(cleanup);

const NAMES: HandshakeHeaderName[] = [
  'host',
  'sec-websocket-key',
  'sec-websocket-version',
  'origin',
  'sec-websocket-origin',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'x-forwarded-for',
  'cookie',
  'upgrade',
  'connection',
];

/** Whether Node has built `request.headers` (its private kHeaders slot is set). */
function headersBuilt(request: http.IncomingMessage): boolean {
  const slot = Object.getOwnPropertySymbols(request).find((symbol) => symbol.description === 'kHeaders');
  if (slot === undefined) throw new Error('this Node keeps no kHeaders slot');
  return (request as unknown as Record<symbol, unknown>)[slot] !== null;
}

/** An IncomingMessage as Node's parser leaves it: rawHeaders set, `headers` not built yet. */
function parsed(lines: string[], joinDuplicateHeaders = false): http.IncomingMessage {
  const request = new http.IncomingMessage(null as unknown as Socket);
  (request as http.IncomingMessage & { joinDuplicateHeaders: boolean }).joinDuplicateHeaders = joinDuplicateHeaders;
  (request as unknown as { _addHeaderLines(lines: string[], n: number): void })._addHeaderLines(lines, lines.length);
  return request;
}

const HEADER_LISTS: Array<[string, string[]]> = [
  ['one of each', ['Host', 'example.com', 'Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Key', 'k', 'Sec-WebSocket-Version', '13', 'Origin', 'https://o']],
  ['odd casing', ['HOST', 'h', 'sEc-WeBsOcKeT-kEy', 'k', 'ORIGIN', 'o', 'cookie', 'a=1', 'X-FORWARDED-FOR', '10.0.0.1']],
  ['duplicates of every kind', ['Host', 'first', 'host', 'second', 'Origin', 'a', 'origin', 'b', 'Cookie', 'x=1', 'COOKIE', 'y=2', 'Sec-WebSocket-Protocol', 'Chat', 'sec-websocket-protocol', 'other', 'X-Forwarded-For', '1.2.3.4', 'x-forwarded-for', '5.6.7.8', 'Connection', 'keep-alive', 'connection', 'Upgrade', 'Sec-WebSocket-Extensions', 'permessage-deflate', 'Sec-WebSocket-Extensions', 'x-foo']],
  ['empty values and look-alike names', ['Host', '', 'Hosts', 'no', 'Origin-X', 'no', 'Cookie', '', 'cookie', 'z=3', 'Sec-WebSocket-Key2', 'no']],
  ['none of them', ['Accept', '*/*', 'User-Agent', 'test']],
];

describe('requestHeader() gives what request.headers gives', () => {
  test.each(HEADER_LISTS)('%s', (_what, lines) => {
    for (const join of [false, true]) {
      const read = parsed(lines, join);
      const reference = parsed(lines, join);
      for (const name of NAMES) expect([name, join, requestHeader(read, name)]).toEqual([name, join, reference.headers[name]]);
      expect(headersBuilt(read)).toBe(false);
      expect(read.headers).toEqual(reference.headers);
    }
  });

  test('once headers is built or replaced, it is what counts', () => {
    const built = parsed(['Origin', 'raw']);
    built.headers.origin = 'changed';
    expect(requestHeader(built, 'origin')).toBe('changed');
    const replaced = parsed(['Origin', 'raw']);
    replaced.headers = { origin: 'replaced' };
    expect(requestHeader(replaced, 'origin')).toBe('replaced');
    expect(requestHeader({ headers: { origin: 'plain object' } }, 'origin')).toBe('plain object');
  });
});

describe('over real sockets', () => {
  /** The server's next request, for a handshake with these options. */
  async function requestFor(port: number, server: { on(event: 'request', cb: (r: WebSocketRequest) => void): unknown }, opts: HandshakeOptions): Promise<{ request: WebSocketRequest; built: boolean }> {
    const got = new Promise<{ request: WebSocketRequest; built: boolean }>((resolve) =>
      server.on('request', (request: WebSocketRequest) => resolve({ request, built: headersBuilt(request.httpRequest) })),
    );
    const client = await RawClient.connect(port);
    client.write(buildHandshake(opts));
    return got;
  }

  test('duplicated and odd-cased headers: the request reads them as headers holds them, and headers is left unbuilt', async () => {
    const server = await startServer();
    const { request, built } = await requestFor(server.port, server.ws, {
      host: null,
      origin: 'https://a',
      headers: [
        ['HOST', 'first'],
        ['host', 'second'],
        ['origin', 'https://b'],
        ['Cookie', 'x=1'],
        ['COOKIE', 'y=2'],
        ['sec-websocket-protocol', 'Chat, other'],
        ['Sec-WebSocket-Protocol', 'Third'],
        ['X-Forwarded-For', '1.2.3.4'],
        ['x-forwarded-for', '5.6.7.8'],
        ['Sec-WebSocket-Extensions', 'x-foo; a=1'],
      ],
    });
    expect(built).toBe(false);
    const headers = request.httpRequest.headers;
    expect(request.host).toBe(headers.host);
    expect(request.host).toBe('first');
    expect(request.origin).toBe('https://a, https://b');
    expect(request.requestedProtocols).toEqual(['chat', 'other', 'third']);
    expect(request.cookies).toEqual([
      { name: 'x', value: '1' },
      { name: 'y', value: '2' },
    ]);
    expect(request.remoteAddresses).toEqual(['1.2.3.4', '5.6.7.8', '127.0.0.1']);
    expect(request.remoteAddress).toBe('1.2.3.4');
    expect(request.requestedExtensions).toEqual([{ name: 'x-foo', params: [{ name: 'a', value: '1' }] }]);
    expect(request.key).toBe(headers['sec-websocket-key']);
    request.reject(403);
  });

  test("an application's change to headers before the upgrade is what the request sees", async () => {
    const httpServer = http.createServer();
    const sockets = trackOpen(httpServer, 'connection');
    const ws = new websocket.server({ httpServer: http.createServer(), autoAcceptConnections: false, keepalive: false });
    unmountOnCleanup(ws);
    httpServer.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      req.headers.origin = 'https://fixed-by-proxy';
      req.headers['sec-websocket-protocol'] = 'rewritten';
      ws.handleUpgrade(req, socket, head);
    });
    const port = await listenForTest(httpServer, sockets);
    const { request } = await requestFor(port, ws, { origin: 'https://as-sent', protocol: 'sent' });
    expect(request.origin).toBe('https://fixed-by-proxy');
    expect(request.requestedProtocols).toEqual(['rewritten']);
    request.reject(403);
  });

  test('joinDuplicateHeaders: a duplicate Host is joined, as Node joins it', async () => {
    const httpServer = http.createServer({ joinDuplicateHeaders: true });
    const sockets = trackOpen(httpServer, 'connection');
    const ws = new websocket.server({ httpServer, autoAcceptConnections: false, keepalive: false });
    unmountOnCleanup(ws);
    const port = await listenForTest(httpServer, sockets);
    const { request, built } = await requestFor(port, ws, { host: null, headers: [['Host', 'a'], ['host', 'b']] });
    expect(built).toBe(false);
    expect(request.host).toBe('a, b');
    expect(request.httpRequest.headers.host).toBe('a, b');
    request.reject(403);
  });

  test("a server's own IncomingMessage class keeps its own headers", async () => {
    class Rewriting extends http.IncomingMessage {}
    Object.defineProperty(Rewriting.prototype, 'headers', {
      get(this: http.IncomingMessage): http.IncomingHttpHeaders {
        const out: http.IncomingHttpHeaders = {};
        for (let i = 0; i + 1 < this.rawHeaders.length; i += 2) out[(this.rawHeaders[i] as string).toLowerCase()] = this.rawHeaders[i + 1];
        return { ...out, origin: 'https://from-subclass' };
      },
    });
    const httpServer = http.createServer({ IncomingMessage: Rewriting });
    const sockets = trackOpen(httpServer, 'connection');
    const ws = new websocket.server({ httpServer, autoAcceptConnections: false, keepalive: false });
    unmountOnCleanup(ws);
    const port = await listenForTest(httpServer, sockets);
    const { request } = await requestFor(port, ws, { origin: 'https://as-sent' });
    expect(request.origin).toBe('https://from-subclass');
    request.reject(403);
  });
});
