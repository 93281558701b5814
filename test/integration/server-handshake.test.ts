/**
 * Server opening handshake over real sockets: the 101 response byte for byte, every refusal byte for
 * byte, request properties, accept()/reject() rules and the server's dispatch (reference §2-§3).
 *
 * Deliberate differences from WebSocket-Node 1.0.35 exercised here: POST → 405 with `Allow: GET`,
 * HTTP/1.0 → 400, a malformed key → 400, accept() compares protocols case-insensitively, reject()
 * with a status missing from upstream's table uses Node's reason phrase, a throwing 'request'
 * handler or a malformed protocol under autoAcceptConnections never crashes the process.
 */
import { createHash } from 'node:crypto';
import {
  cleanup,
  nextEvent,
  record,
  startServer,
  until,
  websocket,
  wsClient,
  type TestServer,
  type WebSocketConnection,
  type WebSocketRequest,
} from '../helpers/server';
import { RawClient, SAMPLE_ACCEPT, SAMPLE_KEY, buildHandshake, type HandshakeOptions } from '../helpers/raw-client';
import * as f from '../helpers/frames';

afterEach(cleanup);

/** Sends a handshake that the server refuses and returns everything it wrote before ending. */
async function refusal(server: TestServer, opts: HandshakeOptions): Promise<string> {
  const client = await RawClient.connect(server.port);
  client.write(buildHandshake(opts));
  await client.waitForEnd();
  return client.received.toString('latin1');
}

/** A server whose 'request' listener hands each request to the test. */
async function requestServer(config = {}): Promise<{ server: TestServer; requests: WebSocketRequest[] }> {
  const server = await startServer(config);
  const requests: WebSocketRequest[] = [];
  server.ws.on('request', (request: WebSocketRequest) => requests.push(request));
  return { server, requests };
}

/** Connects a raw client and waits for its request to reach the 'request' listener. */
async function pendingRequest(
  ctx: { server: TestServer; requests: WebSocketRequest[] },
  opts: HandshakeOptions = {},
): Promise<{ client: RawClient; request: WebSocketRequest }> {
  const client = await RawClient.connect(ctx.server.port);
  const count = ctx.requests.length;
  client.write(buildHandshake(opts));
  await until(() => ctx.requests.length > count, "the 'request' event");
  return { client, request: ctx.requests[count]! };
}

describe('101 response', () => {
  test('headers come in upstream order: Upgrade, Connection, Accept, Protocol (client case), Origin, Set-Cookie', async () => {
    const ctx = await requestServer();
    const { client, request } = await pendingRequest(ctx, { protocol: 'Chat, SuperChat', origin: 'http://o' });
    request.accept('chat', request.origin, [
      { name: 'a', value: 'b', path: '/', domain: 'EX.com', expires: new Date(0), maxage: 10.6, secure: true, httponly: true },
      { name: 'c', value: 'd' },
    ]);
    expect(await client.readHead()).toBe(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${SAMPLE_ACCEPT}\r\n` +
        'Sec-WebSocket-Protocol: Chat\r\n' +
        'Origin: http://o\r\n' +
        'Set-Cookie: a=b;Path=/;Domain=ex.com;Expires=Thu, 01 Jan 1970 00:00:00 GMT;Max-Age=11;Secure;HttpOnly\r\n' +
        'Set-Cookie: c=d\r\n' +
        '\r\n',
    );
  });

  test('minimal accept: no protocol, no origin, no cookies; the connection works right after', async () => {
    const ctx = await requestServer();
    const { client, request } = await pendingRequest(ctx);
    const connection = request.accept();
    expect(await client.readHead()).toBe(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${SAMPLE_ACCEPT}\r\n\r\n`,
    );
    const message = nextEvent(connection, 'message');
    client.write(f.text('hi'));
    expect(await message).toEqual([{ type: 'utf8', utf8Data: 'hi' }]);
  });

  test('version 8 reads Sec-WebSocket-Origin and answers with Sec-WebSocket-Origin', async () => {
    const ctx = await requestServer();
    const { client, request } = await pendingRequest(ctx, { version: '8', headers: [['Sec-WebSocket-Origin', 'http://o8']] });
    expect(request.webSocketVersion).toBe(8);
    expect(request.origin).toBe('http://o8');
    const connection = request.accept(null, request.origin);
    expect(connection.webSocketVersion).toBe(8);
    expect(await client.readHead()).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${SAMPLE_ACCEPT}\r\nSec-WebSocket-Origin: http://o8\r\n\r\n`,
    );
  });

  test('CR and LF are stripped from the allowed origin', async () => {
    const ctx = await requestServer();
    const { client, request } = await pendingRequest(ctx);
    request.accept(null, 'http://o\r\nX-Evil: 1');
    const head = await client.readHead();
    expect(head).toContain('\r\nOrigin: http://oX-Evil: 1\r\n');
    expect(head).not.toContain('\r\nX-Evil');
  });

  test('an extension offer is not answered (permessage-deflate is off by default)', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const { response } = await RawClient.open(server.port, {
      headers: [['Sec-WebSocket-Extensions', 'permessage-deflate; client_max_window_bits']],
    });
    expect(response).toBe(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${SAMPLE_ACCEPT}\r\n\r\n`,
    );
  });

  test('Upgrade and Connection are matched as case-insensitive tokens (Connection: keep-alive, Upgrade)', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const { response } = await RawClient.open(server.port, { upgrade: 'WebSocket', connection: 'keep-alive, Upgrade' });
    expect(response).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
  });

  test('protocols from two Sec-WebSocket-Protocol header lines are combined', async () => {
    const ctx = await requestServer();
    const { request } = await pendingRequest(ctx, { protocol: 'One', headers: [['Sec-WebSocket-Protocol', 'two']] });
    expect(request.requestedProtocols).toEqual(['one', 'two']);
  });

  test('accept() compares the protocol case-insensitively and answers in the client case', async () => {
    const ctx = await requestServer();
    const { client, request } = await pendingRequest(ctx, { protocol: 'Chat' });
    const connection = request.accept('CHAT');
    expect(await client.readHead()).toContain('\r\nSec-WebSocket-Protocol: Chat\r\n');
    // compat: the connection keeps the argument as passed.
    expect(connection.protocol).toBe('CHAT');
    expect(request.requestedProtocols).toBeNull();
  });
});

describe('refusals, byte-exact', () => {
  test('missing Host → 400 and upgradeError', async () => {
    const server = await startServer();
    const errors = record<[Error]>(server.ws, 'upgradeError');
    expect(await refusal(server, { host: null })).toBe(
      'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nX-WebSocket-Reject-Reason: Client must provide a Host header.\r\n\r\n',
    );
    expect(errors.map(([e]) => e.message)).toEqual(['Client must provide a Host header.']);
  });

  test('missing Sec-WebSocket-Key → 400', async () => {
    const server = await startServer();
    const errors = record<[Error]>(server.ws, 'upgradeError');
    expect(await refusal(server, { key: null })).toBe(
      'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nX-WebSocket-Reject-Reason: Client must provide a value for Sec-WebSocket-Key.\r\n\r\n',
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]![0]).toBeInstanceOf(Error);
  });

  test('missing Sec-WebSocket-Version → 400', async () => {
    const server = await startServer();
    expect(await refusal(server, { version: null })).toBe(
      'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nX-WebSocket-Reject-Reason: Client must provide a value for Sec-WebSocket-Version.\r\n\r\n',
    );
  });

  test('version 7 → 426 with Sec-WebSocket-Version: 13', async () => {
    const server = await startServer();
    const errors = record<[Error & { httpCode?: number }]>(server.ws, 'upgradeError');
    expect(await refusal(server, { version: '7' })).toBe(
      'HTTP/1.1 426 Upgrade Required\r\nConnection: close\r\n' +
        'X-WebSocket-Reject-Reason: Unsupported websocket client version: 7Only versions 8 and 13 are supported.\r\n' +
        'Sec-WebSocket-Version: 13\r\n\r\n',
    );
    expect(errors[0]![0].httpCode).toBe(426);
  });

  test('the order of checks: Host before key before version', async () => {
    const server = await startServer();
    const response = await refusal(server, { host: null, key: null, version: null });
    expect(response).toContain('X-WebSocket-Reject-Reason: Client must provide a Host header.\r\n');
    const response2 = await refusal(server, { key: null, version: '7' });
    expect(response2).toContain('X-WebSocket-Reject-Reason: Client must provide a value for Sec-WebSocket-Key.\r\n');
  });

  test('POST upgrade → 405 with Allow: GET', async () => {
    const server = await startServer();
    const requests = record(server.ws, 'request');
    const errors = record<[Error]>(server.ws, 'upgradeError');
    const response = await refusal(server, { method: 'POST' });
    expect(response.startsWith('HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\n')).toBe(true);
    expect(response).toMatch(/\r\nX-WebSocket-Reject-Reason: [^\r\n]+\r\n/);
    expect(response).toContain('\r\nAllow: GET\r\n');
    expect(response.endsWith('\r\n\r\n')).toBe(true);
    expect(requests).toHaveLength(0);
    expect(errors).toHaveLength(1);
  });

  test('HTTP/1.0 upgrade → 400', async () => {
    const server = await startServer();
    const requests = record(server.ws, 'request');
    const response = await refusal(server, { httpVersion: '1.0' });
    expect(response).toMatch(/^HTTP\/1\.1 400 Bad Request\r\nConnection: close\r\nX-WebSocket-Reject-Reason: [^\r\n]+\r\n\r\n$/);
    expect(requests).toHaveLength(0);
  });

  test.each([
    ['not base64 at all', 'not a key'],
    ['base64 of 15 bytes', Buffer.alloc(15, 1).toString('base64')],
    ['base64 of 17 bytes', Buffer.alloc(17, 1).toString('base64')],
  ])('a key that is %s → 400', async (_label, key) => {
    const server = await startServer();
    const requests = record(server.ws, 'request');
    const response = await refusal(server, { key });
    expect(response).toMatch(/^HTTP\/1\.1 400 Bad Request\r\nConnection: close\r\nX-WebSocket-Reject-Reason: [^\r\n]+\r\n\r\n$/);
    expect(requests).toHaveLength(0);
  });

  test('a well-formed key other than the sample is accepted with the right accept value', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const key = Buffer.alloc(16, 7).toString('base64');
    const { response } = await RawClient.open(server.port, { key });
    const expected = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    expect(response).toContain(`\r\nSec-WebSocket-Accept: ${expected}\r\n`);
  });

  test('an Upgrade other than websocket (with every WebSocket header present) → 400', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const connects = record(server.ws, 'connect');
    const response = await refusal(server, { upgrade: 'h2c' });
    expect(response).toMatch(/^HTTP\/1\.1 400 Bad Request\r\nConnection: close\r\nX-WebSocket-Reject-Reason: [^\r\n]+\r\n\r\n$/);
    expect(connects).toHaveLength(0);
  });

  test('no request listener → 404 with the upstream reason', async () => {
    const server = await startServer();
    expect(await refusal(server, {})).toBe(
      'HTTP/1.1 404 Not Found\r\nConnection: close\r\nX-WebSocket-Reject-Reason: No handler is configured to accept the connection.\r\n\r\n',
    );
  });
});

describe('reject()', () => {
  test('defaults to 403 with no reason header', async () => {
    const ctx = await requestServer();
    const { client, request } = await pendingRequest(ctx);
    request.reject();
    await client.waitForEnd();
    expect(client.received.toString('latin1')).toBe('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
  });

  test('a non-number status becomes 403', async () => {
    const ctx = await requestServer();
    const { client, request } = await pendingRequest(ctx);
    (request.reject as (status: unknown) => void)('404');
    await client.waitForEnd();
    expect(client.received.toString('latin1')).toBe('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
  });

  test("reject(404, 'reason', {X-Extra: 'a\\r\\nb'}) strips CR/LF from every header", async () => {
    const ctx = await requestServer();
    const { client, request } = await pendingRequest(ctx);
    request.reject(404, 'bad\r\nreason', { 'X-Extra': 'a\r\nb', 'X-Num': 5 } as Record<string, unknown> as Record<string, string>);
    await client.waitForEnd();
    expect(client.received.toString('latin1')).toBe(
      'HTTP/1.1 404 Not Found\r\nConnection: close\r\nX-WebSocket-Reject-Reason: badreason\r\nX-Extra: ab\r\nX-Num: 5\r\n\r\n',
    );
  });

  test.each([
    [429, 'Too Many Requests'],
    [451, 'Unavailable For Legal Reasons'],
    [405, 'Method Not Allowed'],
  ])('a status missing from upstream table (%i) uses Node reason phrase', async (status, phrase) => {
    const ctx = await requestServer();
    const { client, request } = await pendingRequest(ctx);
    request.reject(status);
    await client.waitForEnd();
    expect(client.received.toString('latin1')).toBe(`HTTP/1.1 ${status} ${phrase}\r\nConnection: close\r\n\r\n`);
  });

  test('upstream table wordings are kept (407, 413)', async () => {
    const ctx = await requestServer();
    const a = await pendingRequest(ctx);
    a.request.reject(407);
    const b = await pendingRequest(ctx);
    b.request.reject(413);
    await a.client.waitForEnd();
    await b.client.waitForEnd();
    expect(a.client.received.toString('latin1')).toBe('HTTP/1.1 407 Proxy Authorization Required\r\nConnection: close\r\n\r\n');
    expect(b.client.received.toString('latin1')).toBe('HTTP/1.1 413 Request Entity Too Long\r\nConnection: close\r\n\r\n');
  });

  test('emits requestResolved then requestRejected(request), and leaves pendingRequests', async () => {
    const ctx = await requestServer();
    const { request } = await pendingRequest(ctx);
    expect(ctx.server.ws.pendingRequests).toEqual([request]);
    const order: string[] = [];
    request.on('requestResolved', (r: unknown) => order.push(r === request ? 'resolved(request)' : 'resolved(?)'));
    request.on('requestRejected', (r: unknown) => order.push(r === request ? 'rejected(request)' : 'rejected(?)'));
    request.reject(400);
    expect(order).toEqual(['resolved(request)', 'rejected(request)']);
    expect(ctx.server.ws.pendingRequests).toEqual([]);
  });
});

describe('accept()/reject() only once', () => {
  const ONCE = 'WebSocketRequest may only be accepted or rejected one time.';

  test('after accept, accept and reject throw', async () => {
    const ctx = await requestServer();
    const { client, request } = await pendingRequest(ctx);
    request.accept();
    expect(() => request.accept()).toThrow(ONCE);
    expect(() => request.reject()).toThrow(ONCE);
    expect(await client.readHead()).toMatch(/^HTTP\/1\.1 101 /);
  });

  test('after reject, accept and reject throw', async () => {
    const ctx = await requestServer();
    const { client, request } = await pendingRequest(ctx);
    request.reject(400);
    expect(() => request.reject(400)).toThrow(ONCE);
    expect(() => request.accept()).toThrow(ONCE);
    await client.waitForEnd();
    expect(client.received.toString('latin1')).toBe('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });
});

describe('accept() validation', () => {
  test('a protocol the client did not request → 500 and throws', async () => {
    const ctx = await requestServer();
    const { client, request } = await pendingRequest(ctx, { protocol: 'chat' });
    expect(() => request.accept('this_is_the_wrong_protocol')).toThrow('Specified protocol was not requested by the client.');
    await client.waitForEnd();
    expect(client.received.toString('latin1')).toBe('HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n');
    expect(ctx.server.ws.connections).toHaveLength(0);
  });

  test('a protocol with an illegal character → 500 and throws naming the character', async () => {
    const ctx = await requestServer();
    const { client, request } = await pendingRequest(ctx, { protocol: 'a b' });
    expect(request.requestedProtocols).toEqual(['a b']);
    expect(() => request.accept('a b')).toThrow('Illegal character " " in subprotocol.');
    await client.waitForEnd();
    expect(client.received.toString('latin1')).toBe('HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n');
  });

  test('a bad cookie → 500 and throws the upstream message', async () => {
    const ctx = await requestServer();
    const { client, request } = await pendingRequest(ctx);
    expect(() => request.accept(null, null, 'nope' as unknown as [])).toThrow('Value supplied for "cookies" argument must be an array.');
    await client.waitForEnd();
    expect(client.received.toString('latin1')).toBe('HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n');
  });
});

describe('dispatch', () => {
  test('autoAcceptConnections accepts requestedProtocols[0] with the origin and emits no request', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const requests = record(server.ws, 'request');
    const connects = record<[WebSocketConnection]>(server.ws, 'connect');
    const { response } = await RawClient.open(server.port, { protocol: 'Foo, bar', origin: 'http://x' });
    expect(response).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${SAMPLE_ACCEPT}\r\nSec-WebSocket-Protocol: Foo\r\nOrigin: http://x\r\n\r\n`,
    );
    expect(requests).toHaveLength(0);
    expect(connects).toHaveLength(1);
    expect(connects[0]![0].protocol).toBe('foo');
  });

  test('a malformed Sec-WebSocket-Protocol under autoAcceptConnections → 500, upgradeError, no crash', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const errors = record<[Error]>(server.ws, 'upgradeError');
    const response = await refusal(server, { protocol: 'bad(proto), ok' });
    expect(response).toBe('HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n');
    expect(errors).toHaveLength(1);
    expect(errors[0]![0].message).toBe('Illegal character "(" in subprotocol.');
    expect(server.ws.pendingRequests).toHaveLength(0);
    // The server still works afterwards.
    const { response: ok } = await RawClient.open(server.port, { protocol: 'ok' });
    expect(ok).toMatch(/^HTTP\/1\.1 101 /);
  });

  test('a throwing request handler: 500, error to upgradeError listeners', async () => {
    const server = await startServer();
    const boom = new Error('boom');
    server.ws.on('request', () => {
      throw boom;
    });
    const errors = record<[Error]>(server.ws, 'upgradeError');
    expect(await refusal(server, {})).toBe('HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n');
    expect(errors).toEqual([[boom]]);
  });

  test('a throwing request handler without upgradeError listeners goes to process.emitWarning', async () => {
    const server = await startServer();
    const boom = new Error('boom');
    server.ws.on('request', () => {
      throw boom;
    });
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      expect(await refusal(server, {})).toBe('HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n');
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]![0]).toBe(boom);
    } finally {
      warn.mockRestore();
    }
  });

  test('a handler that throws after accept() leaves the connection open and reports the error', async () => {
    const server = await startServer();
    server.ws.on('request', (request: WebSocketRequest) => {
      request.accept();
      throw new Error('late');
    });
    const errors = record<[Error]>(server.ws, 'upgradeError');
    const { client, response } = await RawClient.open(server.port);
    expect(response).toMatch(/^HTTP\/1\.1 101 /);
    expect(errors.map(([e]) => e.message)).toEqual(['late']);
    expect(server.ws.connections).toHaveLength(1);
    const message = nextEvent(server.ws.connections[0]!, 'message');
    client.write(f.text('still here'));
    expect(await message).toEqual([{ type: 'utf8', utf8Data: 'still here' }]);
  });

  test("'connect' is emitted synchronously inside accept(), with the returned connection", async () => {
    const ctx = await requestServer();
    const { request } = await pendingRequest(ctx);
    const connects = record<[WebSocketConnection]>(ctx.server.ws, 'connect');
    const connection = request.accept();
    expect(connects).toHaveLength(1);
    expect(connects[0]![0]).toBe(connection);
    expect(ctx.server.ws.connections).toEqual([connection]);
    expect(ctx.server.ws.pendingRequests).toEqual([]);
    expect(connection.state).toBe('open');
    expect(connection.connected).toBe(true);
    expect(connection.closeReasonCode).toBe(-1);
    expect(connection.closeDescription).toBeNull();
  });

  test.each([
    ['ends the connection', (client: RawClient) => client.destroy()],
    ['resets the connection', (client: RawClient) => client.socket.resetAndDestroy()],
  ])('client %s before accept → close(1006, TCP connection lost before handshake completed.)', async (_label, hangUp) => {
    const ctx = await requestServer();
    const { client, request } = await pendingRequest(ctx, { protocol: 'test' });
    hangUp(client);
    await until(() => request._socketIsClosing, 'the server to notice the hang-up');
    const connects = record(ctx.server.ws, 'connect');
    const connection = request.accept('test', request.origin);
    expect(connects).toHaveLength(1);
    const errors = record(connection, 'error');
    const closes = record(connection, 'close');
    const serverCloses = record(ctx.server.ws, 'close');
    await until(() => closes.length > 0, "the connection's close event");
    await until(() => ctx.server.ws.pendingRequests.length === 0, 'pendingRequests to empty');
    expect(closes).toEqual([[1006, 'TCP connection lost before handshake completed.']]);
    expect(serverCloses).toEqual([[connection, 1006, 'TCP connection lost before handshake completed.']]);
    expect(errors).toHaveLength(0);
    expect(ctx.server.ws.connections).toEqual([]);
  });
});

describe('request properties', () => {
  const headers: Array<[string, string]> = [
    ['Sec-WebSocket-Extensions', 'permessage-deflate; client_max_window_bits, X-Foo;a=1;b'],
    ['Cookie', 'a=1; b="two%20x"; c'],
    ['X-Forwarded-For', '1.2.3.4, 5.6.7.8'],
  ];

  test('host, resource, resourceURL, origin, protocols, extensions, cookies, addresses, version, key', async () => {
    const ctx = await requestServer();
    const { request } = await pendingRequest(ctx, {
      path: '/chat/room?x=1&y=two',
      host: 'example.com:8080',
      origin: 'http://example.com',
      protocol: 'Chat, SuperChat',
      headers,
    });
    expect(request.host).toBe('example.com:8080');
    expect(request.resource).toBe('/chat/room?x=1&y=two');
    expect(request.resourceURL.pathname).toBe('/chat/room');
    expect({ ...(request.resourceURL.query as object) }).toEqual({ x: '1', y: 'two' });
    expect(request.origin).toBe('http://example.com');
    expect(request.requestedProtocols).toEqual(['chat', 'superchat']);
    expect(request.protocolFullCaseMap).toEqual({ chat: 'Chat', superchat: 'SuperChat' });
    expect(request.requestedExtensions).toEqual([
      { name: 'permessage-deflate', params: [{ name: 'client_max_window_bits' }] },
      { name: 'x-foo', params: [{ name: 'a', value: '1' }, { name: 'b' }] },
    ]);
    expect(request.cookies).toEqual([
      { name: 'a', value: '1' },
      { name: 'b', value: 'two x' },
      { name: 'c', value: null },
    ]);
    expect(request.remoteAddress).toBe('1.2.3.4');
    expect(request.remoteAddresses).toEqual(['1.2.3.4', '5.6.7.8', '127.0.0.1']);
    expect(request.webSocketVersion).toBe(13);
    expect(request.key).toBe(SAMPLE_KEY);
    expect(request.httpRequest.headers['x-forwarded-for']).toBe('1.2.3.4, 5.6.7.8');

    const connection = request.accept('superchat');
    expect(connection.remoteAddress).toBe('1.2.3.4');
    expect(connection.remoteAddresses).toEqual(['1.2.3.4', '5.6.7.8', '127.0.0.1']);
    expect(connection.webSocketVersion).toBe(13);
  });

  test('ignoreXForwardedFor keeps the socket address', async () => {
    const ctx = await requestServer({ ignoreXForwardedFor: true });
    const { request } = await pendingRequest(ctx, { headers });
    expect(request.remoteAddress).toBe('127.0.0.1');
    expect(request.remoteAddresses).toEqual(['127.0.0.1']);
  });

  test('absent origin is undefined; no protocols is an empty list; parseCookies/parseExtensions false give []', async () => {
    const ctx = await requestServer({ parseCookies: false, parseExtensions: false });
    const { request } = await pendingRequest(ctx, { headers });
    expect(request.origin).toBeUndefined();
    expect(request.requestedProtocols).toEqual([]);
    expect(request.cookies).toEqual([]);
    expect(request.requestedExtensions).toEqual([]);
  });

  test('a ws client reaches the request listener with its subprotocols and origin', async () => {
    const ctx = await requestServer();
    ctx.server.ws.on('request', (request: WebSocketRequest) => request.accept(request.requestedProtocols![1]!, request.origin));
    const client = await wsClient(ctx.server.url + 'path?q=1', ['one', 'Two'], { origin: 'http://ws.test' });
    expect(client.protocol).toBe('Two');
    const request = ctx.requests[0]!;
    expect(request.resourceURL.pathname).toBe('/path');
    expect(request.origin).toBe('http://ws.test');
  });
});

test('the exported server constructor is the one under test', () => {
  expect(typeof websocket.server).toBe('function');
});
