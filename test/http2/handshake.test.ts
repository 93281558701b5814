/**
 * RFC 8441 opening handshake on an http2 server: the WebSocketRequest an extended CONNECT becomes,
 * accept() and reject() as HTTP/2 responses, validation (RFC 8441 §4-5, RFC 9113 §8.5), the
 * 'request' / autoAcceptConnections / 404 / handshakeTimeout flow, and which streams are left to
 * the application.
 */
import * as http2 from 'node:http2';
import { text } from '../helpers/frames';
import {
  cleanup,
  connectHeaders,
  connectSession,
  listen,
  nextEvent,
  openWebSocket,
  startH2Server,
  until,
  websocket,
  WsStream,
  type WebSocketConnection,
  type WebSocketRequest,
} from './helpers';

afterEach(cleanup);

/** Sends an extended CONNECT and returns the response headers (for refusals). */
async function statusOf(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<http2.IncomingHttpHeaders> {
  const ws = new WsStream(session, headers);
  const response = await ws.response;
  await ws.ended;
  return response;
}

describe('the WebSocketRequest of an extended CONNECT', () => {
  test('has the properties of an HTTP/1.1 upgrade request', async () => {
    const h2 = await startH2Server('h2c');
    const session = await connectSession(h2.origin);
    const requests: WebSocketRequest[] = [];
    h2.ws.on('request', (request) => {
      requests.push(request);
      request.accept('chat', request.origin);
    });
    await openWebSocket(session, '/chat?room=42', {
      origin: 'https://app.example',
      'sec-websocket-protocol': 'Chat, superchat',
      'sec-websocket-extensions': 'x-test; a=1, permessage-deflate',
      cookie: ['sid=abc', 'theme=dark'],
      'x-forwarded-for': '203.0.113.7',
    });
    const request = requests[0]!;
    expect(request.resource).toBe('/chat?room=42');
    expect(request.resourceURL.pathname).toBe('/chat');
    expect(request.resourceURL.query).toEqual(expect.objectContaining({ room: '42' }));
    expect(request.host).toBe('example.test');
    expect(request.origin).toBe('https://app.example');
    expect(request.webSocketVersion).toBe(13);
    expect(request.requestedProtocols).toBeNull(); // gone after accept(), as over HTTP/1.1
    expect(request.requestedExtensions).toEqual([
      { name: 'x-test', params: [{ name: 'a', value: '1' }] },
      { name: 'permessage-deflate', params: [] },
    ]);
    // RFC 9113 §8.2.3: two cookie fields, joined by Node.
    expect(request.cookies).toEqual([
      { name: 'sid', value: 'abc' },
      { name: 'theme', value: 'dark' },
    ]);
    expect(request.remoteAddress).toBe('203.0.113.7');
    expect(request.remoteAddresses).toEqual(['203.0.113.7', '127.0.0.1']);
    expect(request.httpRequest.method).toBe('CONNECT');
    expect(request.httpRequest.url).toBe('/chat?room=42');
    expect(request.httpRequest.headers[':protocol']).toBe('websocket');
    expect(request.httpRequest.headers['origin']).toBe('https://app.example');
    expect(request.socket.remoteAddress).toBe('127.0.0.1');
    expect(typeof request.socket.remotePort).toBe('number');
  });

  test('requestedProtocols before accept; accept() picks one (case kept), sets cookies, no Sec-WebSocket-Accept', async () => {
    const h2 = await startH2Server('h2c');
    const session = await connectSession(h2.origin);
    let protocols: string[] = [];
    let connection: WebSocketConnection | undefined;
    h2.ws.on('request', (request) => {
      protocols = [...request.requestedProtocols];
      connection = request.accept('superchat', 'https://app.example', [{ name: 'sid', value: 'xyz', httponly: true }]);
    });
    const ws = await openWebSocket(session, '/', { 'sec-websocket-protocol': 'chat, SuperChat', origin: 'https://app.example' });
    const response = await ws.response;
    expect(protocols).toEqual(['chat', 'superchat']);
    expect(response[':status']).toBe(200);
    expect(response['sec-websocket-protocol']).toBe('SuperChat');
    expect(response['set-cookie']).toEqual(['sid=xyz;HttpOnly']);
    expect(response['sec-websocket-accept']).toBeUndefined();
    expect(connection!.protocol).toBe('superchat');
    expect(connection!.remoteAddress).toBe('127.0.0.1');
    expect(connection!.webSocketVersion).toBe(13);
  });

  test('accept() of a protocol the client did not ask for: 500, and accept() throws', async () => {
    const h2 = await startH2Server('h2c');
    const session = await connectSession(h2.origin);
    const thrown: unknown[] = [];
    h2.ws.on('request', (request) => {
      try {
        request.accept('other');
      } catch (error) {
        thrown.push(error);
      }
    });
    const response = await statusOf(session, connectHeaders('/', { 'sec-websocket-protocol': 'chat' }));
    expect(response[':status']).toBe(500);
    expect(String(thrown[0])).toMatch(/Specified protocol was not requested/);
  });

  test('reject(status, reason, headers): that status with END_STREAM; the session stays usable', async () => {
    const h2 = await startH2Server('h2c');
    const session = await connectSession(h2.origin);
    h2.ws.on('request', (request) => {
      if (request.resource === '/no') request.reject(403, 'Go away\r\n', { 'X-Extra': 'yes', Connection: 'close', ':status': '200' });
      else request.accept();
    });
    const ws = new WsStream(session, connectHeaders('/no'));
    const response = await ws.response;
    expect(response[':status']).toBe(403);
    expect(response['x-websocket-reject-reason']).toBe('Go away');
    expect(response['x-extra']).toBe('yes');
    expect(response['connection']).toBeUndefined();
    await ws.ended;
    expect(await ws.closed).toBe(0);
    const ok = await openWebSocket(session, '/yes');
    expect((await ok.response)[':status']).toBe(200);
  });

  test('reject() without a status is 403; a status that would accept (2xx) or that HTTP/2 lacks becomes 500', async () => {
    const h2 = await startH2Server('h2c');
    const session = await connectSession(h2.origin);
    const statuses: Record<string, number | undefined> = { '/none': undefined, '/ok': 200, '/switch': 101, '/bad': 700, '/later': 503 };
    h2.ws.on('request', (request) => request.reject(statuses[request.resource]));
    const got: Record<string, unknown> = {};
    for (const path of Object.keys(statuses)) got[path] = (await statusOf(session, connectHeaders(path)))[':status'];
    expect(got).toEqual({ '/none': 403, '/ok': 500, '/switch': 500, '/bad': 500, '/later': 503 });
  });

  test('no request handler and no autoAcceptConnections: 404 with the reason', async () => {
    const h2 = await startH2Server('h2c');
    const session = await connectSession(h2.origin);
    const response = await statusOf(session, connectHeaders());
    expect(response[':status']).toBe(404);
    expect(response['x-websocket-reject-reason']).toBe('No handler is configured to accept the connection.');
  });

  test('autoAcceptConnections accepts with the first protocol', async () => {
    const h2 = await startH2Server('h2c', { autoAcceptConnections: true });
    const session = await connectSession(h2.origin);
    const connected = nextEvent<[WebSocketConnection]>(h2.ws, 'connect');
    const ws = await openWebSocket(session, '/', { 'sec-websocket-protocol': 'first, second' });
    expect((await ws.response)['sec-websocket-protocol']).toBe('first');
    const [connection] = await connected;
    expect(h2.ws.connections).toEqual([connection]);
  });

  test('handshakeTimeout refuses an unanswered request with 408 and it leaves pendingRequests', async () => {
    const h2 = await startH2Server('h2c', { handshakeTimeout: 100 });
    const session = await connectSession(h2.origin);
    h2.ws.on('request', () => undefined);
    const response = statusOf(session, connectHeaders());
    await until(() => h2.ws.pendingRequests.length === 1, 'the pending request');
    expect((await response)[':status']).toBe(408);
    expect(h2.ws.pendingRequests).toHaveLength(0);
  });

  test('a stream reset before accept() leaves pendingRequests; a late accept() gives a 1006 close', async () => {
    const h2 = await startH2Server('h2c');
    const session = await connectSession(h2.origin);
    const requests: WebSocketRequest[] = [];
    h2.ws.on('request', (request) => requests.push(request));
    const ws = new WsStream(session, connectHeaders());
    await until(() => h2.ws.pendingRequests.length === 1, 'the pending request');
    ws.stream.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => h2.ws.pendingRequests.length === 0, 'the request to leave pendingRequests');
    const connection = requests[0]!.accept();
    const [code] = await nextEvent<[number, string]>(connection, 'close');
    expect(code).toBe(1006);
    expect(h2.ws.connections).toHaveLength(0);
  });

  test('a throwing request handler: 500, reported as upgradeError', async () => {
    const h2 = await startH2Server('h2c');
    const session = await connectSession(h2.origin);
    h2.ws.on('request', () => {
      throw new Error('handler bug');
    });
    const errored = nextEvent<[Error]>(h2.ws, 'upgradeError');
    expect((await statusOf(session, connectHeaders()))[':status']).toBe(500);
    expect((await errored)[0].message).toBe('handler bug');
  });
});

test('WebSocketRouter routes extended CONNECTs by path and protocol; no route: 404', async () => {
  const h2 = await startH2Server('h2c');
  const router = new websocket.router();
  router.attachServer(h2.ws);
  router.mount('/chat', 'chat', (request) => {
    const connection = request.accept(request.origin);
    connection.on('message', (message) => {
      if (message.type === 'utf8') connection.sendUTF(`chat ${message.utf8Data}`);
    });
  });
  const session = await connectSession(h2.origin);
  const ws = await openWebSocket(session, '/chat?x=1', { 'sec-websocket-protocol': 'chat' });
  expect((await ws.response)['sec-websocket-protocol']).toBe('chat');
  ws.send(text('routed'));
  expect((await ws.next('the routed echo')).payload.toString()).toBe('chat routed');
  const missing = await statusOf(session, connectHeaders('/nowhere'));
  expect(missing[':status']).toBe(404);
});

describe('validation (RFC 8441 §4-5)', () => {
  test('Sec-WebSocket-Version missing: 400; not 13: 426 with sec-websocket-version: 13', async () => {
    const h2 = await startH2Server('h2c');
    const session = await connectSession(h2.origin);
    h2.ws.on('request', (request) => request.accept());
    const errors: Error[] = [];
    h2.ws.on('upgradeError', (error: Error) => errors.push(error));
    const missing = connectHeaders();
    delete missing['sec-websocket-version'];
    const noVersion = await statusOf(session, missing);
    expect(noVersion[':status']).toBe(400);
    expect(noVersion['x-websocket-reject-reason']).toBe('Client must provide a value for Sec-WebSocket-Version.');
    const old = await statusOf(session, connectHeaders('/', { 'sec-websocket-version': '8' }));
    expect(old[':status']).toBe(426);
    expect(old['sec-websocket-version']).toBe('13');
    expect(errors.map((e) => e.message)).toEqual([
      'Client must provide a value for Sec-WebSocket-Version.',
      'Unsupported websocket client version: 8. Only version 13 is supported over HTTP/2.',
    ]);
  });

  // Node's client fills in :path, :scheme and :authority, and nghttp2 itself resets requests that
  // lack them; a 'stream' listener that runs before ours removes them from the header object, to
  // check our own answer.
  test.each([
    [':path', 'Extended CONNECT requires a :path pseudo-header field.'],
    [':scheme', 'Extended CONNECT requires a :scheme pseudo-header field.'],
    [':authority', 'Client must provide an :authority pseudo-header field or a Host header.'],
  ])('%s missing: 400', async (field, reason) => {
    const h2 = await startH2Server('h2c');
    h2.server.prependListener('stream', (_stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
      delete headers[field];
    });
    const session = await connectSession(h2.origin);
    h2.ws.on('request', (request) => request.accept());
    const response = await statusOf(session, connectHeaders());
    expect(response[':status']).toBe(400);
    expect(response['x-websocket-reject-reason']).toBe(reason);
  });

  test('an extended CONNECT for another protocol: 501 when nobody else listens', async () => {
    const h2 = await startH2Server('h2c');
    const session = await connectSession(h2.origin);
    const requests: WebSocketRequest[] = [];
    h2.ws.on('request', (request) => requests.push(request));
    const response = await statusOf(session, connectHeaders('/', { ':protocol': 'connect-udp' }));
    expect(response[':status']).toBe(501);
    expect(requests).toHaveLength(0);
  });

  test("an extended CONNECT for another protocol is left to the application's own 'stream' listener", async () => {
    const h2 = await startH2Server('h2c');
    h2.server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
      if (headers[':protocol'] === 'connect-udp') stream.respond({ ':status': 200, 'x-mine': '1' });
    });
    const session = await connectSession(h2.origin);
    const ws = new WsStream(session, connectHeaders('/', { ':protocol': 'connect-udp' }));
    const response = await ws.response;
    expect([response[':status'], response['x-mine']]).toEqual([200, '1']);
  });
});

describe("an http2 server with the application's own handlers", () => {
  test("pages keep being served by the 'request' handler (compatibility API) next to WebSockets", async () => {
    const h2 = await startH2Server('h2c', {}, (req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(`page ${req.url}`);
    });
    h2.ws.on('request', (request) => {
      const connection = request.accept();
      connection.on('message', (message) => {
        if (message.type === 'utf8') connection.sendUTF(`echo ${message.utf8Data}`);
      });
    });
    const session = await connectSession(h2.origin);
    const page = session.request({ ':path': '/index.html' });
    const [headers] = await nextEvent<[http2.IncomingHttpHeaders]>(page, 'response');
    let body = '';
    page.setEncoding('utf8');
    page.on('data', (chunk: string) => (body += chunk));
    await nextEvent(page, 'end');
    expect([headers[':status'], body]).toEqual([200, 'page /index.html']);

    // Node's compatibility layer answers every CONNECT with 405 unless a 'connect' listener exists:
    // ours keeps it away from the WebSocket streams.
    const ws = await openWebSocket(session, '/ws');
    ws.send(text('hi'));
    expect((await ws.next('the echo')).payload.toString()).toBe('echo hi');
  });

  test("a 'request' handler added after mounting (compatibility layer listening after us) changes nothing", async () => {
    const h2 = await startH2Server('h2c');
    h2.server.on('request', (_req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => res.end('late page'));
    h2.ws.on('request', (request) => {
      const connection = request.accept();
      connection.on('message', (message) => {
        if (message.type === 'utf8') connection.sendUTF(`echo ${message.utf8Data}`);
      });
    });
    const session = await connectSession(h2.origin);
    const ws = await openWebSocket(session);
    ws.send(text('late'));
    expect((await ws.next('the echo')).payload.toString()).toBe('echo late');
    const other = await statusOf(session, connectHeaders('/', { ':protocol': 'connect-udp' }));
    expect(other[':status']).toBe(501);
  });

  test("other CONNECTs get Node's own answers under the compatibility API: 405 plain, 501 another protocol", async () => {
    const h2 = await startH2Server('h2c', {}, (_req, res) => res.end('page'));
    const session = await connectSession(h2.origin);
    const plain = session.request({ ':method': 'CONNECT', ':authority': 'example.test:443' }, { endStream: false });
    const [plainHeaders] = await nextEvent<[http2.IncomingHttpHeaders]>(plain, 'response');
    expect(plainHeaders[':status']).toBe(405);
    const other = await statusOf(session, connectHeaders('/', { ':protocol': 'connect-udp' }));
    expect(other[':status']).toBe(501);
  });

  test("an application 'connect' listener still gets the CONNECTs that are not WebSockets", async () => {
    const h2 = await startH2Server('h2c', {}, (_req, res) => res.end('page'));
    h2.server.on('connect', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
      if (req.headers[':protocol'] !== 'websocket') res.writeHead(299).end();
    });
    h2.ws.on('request', (request) => request.accept());
    const session = await connectSession(h2.origin);
    const other = await statusOf(session, connectHeaders('/', { ':protocol': 'connect-udp' }));
    expect(other[':status']).toBe(299);
    const ws = await openWebSocket(session);
    expect((await ws.response)[':status']).toBe(200);
  });

  test('SETTINGS_ENABLE_CONNECT_PROTOCOL is sent once a WebSocketServer is mounted (RFC 8441 §3)', async () => {
    const { port } = await listen(http2.createServer());
    const withoutUs = await connectSession(`http://127.0.0.1:${port}`);
    expect(withoutUs.remoteSettings.enableConnectProtocol).toBe(false);
    const h2 = await startH2Server('h2c');
    const withUs = await connectSession(h2.origin);
    expect(withUs.remoteSettings.enableConnectProtocol).toBe(true);
  });
});
