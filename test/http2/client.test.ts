/**
 * WebSocketClient over HTTP/2 (RFC 8441), `http2` client option: extended CONNECT on a shared
 * session per origin (h2c for ws://, TLS with ALPN for wss://), on a session the application passes,
 * and the fall back to an HTTP/1.1 upgrade when the server does not offer it. Real sockets on
 * 127.0.0.1; the server side is our WebSocketServer mounted on Node's http2 servers.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as http2 from 'node:http2';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import {
  certificate,
  cleanup,
  nextEvent,
  onCleanup,
  startH2Server,
  until,
  websocket,
  type WebSocketConnection,
  type WebSocketRequest,
} from './helpers';
import type { IMessage } from '../../lib/public-types';

type Client = InstanceType<typeof websocket.client>;

afterEach(cleanup);

/** An echo handler: accepts `echo` and sends every message back. Records each request's HTTP version. */
function echoServer(ws: InstanceType<typeof websocket.server>): { versions: string[]; connections: WebSocketConnection[] } {
  const versions: string[] = [];
  const connections: WebSocketConnection[] = [];
  ws.on('request', (request: WebSocketRequest) => {
    versions.push(request.httpRequest.httpVersion);
    const connection = request.accept(request.requestedProtocols.includes('echo') ? 'echo' : null, request.origin);
    connections.push(connection);
    connection.on('message', (message: IMessage) => {
      if (message.type === 'utf8') connection.sendUTF(message.utf8Data as string);
      else connection.sendBytes(message.binaryData as Buffer);
    });
    connection.on('error', () => undefined);
  });
  return { versions, connections };
}

/** Connects a client and resolves with its connection (rejects on connectFailed). */
async function connect(client: Client, url: string, protocols: string[] = ['echo']): Promise<WebSocketConnection> {
  const connection = await new Promise<WebSocketConnection>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('connectFailed', reject);
    client.connect(url, protocols);
  });
  connection.on('error', () => undefined);
  onCleanup(() => {
    if (connection.connected) connection.drop(1006, 'test teardown', true);
  });
  return connection;
}

function nextMessage(connection: WebSocketConnection): Promise<IMessage> {
  return nextEvent<[IMessage]>(connection, 'message').then(([message]) => message);
}

const tlsClientOptions = (): https.RequestOptions => ({ ca: certificate().cert, servername: 'localhost' });

describe('WebSocketClient with http2: true', () => {
  test('h2c (ws://): the WebSocket is an extended CONNECT stream; text, binary and the close code and reason go both ways', async () => {
    const h = await startH2Server('h2c');
    const { versions, connections } = echoServer(h.ws);
    const client = new websocket.client({ http2: true });
    const connection = await connect(client, `ws://127.0.0.1:${h.port}/chat?room=1`);
    expect(versions).toEqual(['2.0']);
    expect(connection.protocol).toBe('echo');
    expect(h.sessions.size).toBe(1);
    connection.sendUTF('héllo over h2');
    expect((await nextMessage(connection)).utf8Data).toBe('héllo over h2');
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    connection.sendBytes(bytes);
    expect((await nextMessage(connection)).binaryData).toEqual(bytes);
    const serverSide = connections[0]!;
    const serverClose = nextEvent<[number, string]>(serverSide, 'close');
    const clientClose = nextEvent<[number, string]>(connection, 'close');
    connection.close(4001, 'bye over h2');
    expect(await serverClose).toEqual([4001, 'bye over h2']);
    expect(await clientClose).toEqual([4001, 'bye over h2']);
  });

  test('five clients to one origin share one HTTP/2 session; each WebSocket is its own stream', async () => {
    const h = await startH2Server('h2c');
    const { versions } = echoServer(h.ws);
    const connections: WebSocketConnection[] = [];
    for (let i = 0; i < 5; i++) connections.push(await connect(new websocket.client({ http2: true }), `ws://127.0.0.1:${h.port}/`));
    expect(versions).toEqual(['2.0', '2.0', '2.0', '2.0', '2.0']);
    expect(h.sessions.size).toBe(1);
    const replies = connections.map((connection) => nextMessage(connection));
    connections.forEach((connection, i) => connection.sendUTF(`message ${i}`));
    expect((await Promise.all(replies)).map((m) => m.utf8Data)).toEqual(['message 0', 'message 1', 'message 2', 'message 3', 'message 4']);
    // One ending does not end the others.
    const closed = nextEvent(connections[0]!, 'close');
    connections[0]!.close();
    await closed;
    connections[1]!.sendUTF('still here');
    expect((await nextMessage(connections[1]!)).utf8Data).toBe('still here');
  });

  test('wss:// over TLS (ALPN h2) with permessage-deflate negotiated on the stream', async () => {
    const h = await startH2Server('tls', { perMessageDeflate: true } as never);
    const { versions } = echoServer(h.ws);
    const client = new websocket.client({ http2: true, perMessageDeflate: true, tlsOptions: tlsClientOptions() } as never);
    const connection = await connect(client, `wss://localhost:${h.port}/`);
    expect(versions).toEqual(['2.0']);
    expect(connection.extensions.map((e) => e.name)).toEqual(['permessage-deflate']);
    const text = 'compress me '.repeat(500);
    connection.sendUTF(text);
    expect((await nextMessage(connection)).utf8Data).toBe(text);
  });

  test('falls back to an HTTP/1.1 upgrade on a server that does not speak HTTP/2 (ws:// and wss://)', async () => {
    for (const secure of [false, true]) {
      const tls = certificate();
      const server = secure ? https.createServer({ key: tls.key, cert: tls.cert }) : http.createServer();
      const ws = new websocket.server({ httpServer: server, keepalive: false });
      const { versions } = echoServer(ws);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      onCleanup(() => {
        ws.shutDown();
        server.closeAllConnections?.();
        server.close();
      });
      const port = (server.address() as import('node:net').AddressInfo).port;
      const client = new websocket.client({ http2: true, ...(secure ? { tlsOptions: tlsClientOptions() } : {}) });
      const connection = await connect(client, `${secure ? 'wss' : 'ws'}://localhost:${port}/`);
      expect(versions).toEqual(['1.1']);
      connection.sendUTF('over 1.1');
      expect((await nextMessage(connection)).utf8Data).toBe('over 1.1');
    }
  });

  test('falls back to HTTP/1.1 when the HTTP/2 server does not send SETTINGS_ENABLE_CONNECT_PROTOCOL (allowHTTP1)', async () => {
    const h = await startH2Server('tls+http1');
    // RFC 8441 §3 lets a server leave the setting out; this one turns it off before any session.
    h.server.updateSettings({ enableConnectProtocol: false });
    const { versions } = echoServer(h.ws);
    const client = new websocket.client({ http2: true, tlsOptions: tlsClientOptions() });
    const connection = await connect(client, `wss://localhost:${h.port}/`);
    expect(versions).toEqual(['1.1']);
    connection.sendUTF('fallback');
    expect((await nextMessage(connection)).utf8Data).toBe('fallback');
  });

  test('a refusal (403) is connectFailed with the status; a protocol the client did not ask for fails it too', async () => {
    const h = await startH2Server('h2c');
    h.ws.on('request', (request: WebSocketRequest) => {
      if (request.resource === '/forbidden') request.reject(403, 'not you');
      else request.accept(null, request.origin);
    });
    const failed = new websocket.client({ http2: true });
    await expect(connect(failed, `ws://127.0.0.1:${h.port}/forbidden`)).rejects.toThrow(/non-2xx status: 403[\s\S]*x-websocket-reject-reason: not you/);
    // The server chose no protocol though the client asked for one (RFC 6455 §4.1 item 6).
    const noProtocol = new websocket.client({ http2: true });
    await expect(connect(noProtocol, `ws://127.0.0.1:${h.port}/`, ['echo'])).rejects.toThrow('Expected a Sec-WebSocket-Protocol header.');
  });

  test('a client reused after a refusal over HTTP/2: its earlier connection stays open', async () => {
    const h = await startH2Server('h2c');
    const { connections } = echoServer(h.ws);
    h.ws.removeAllListeners('request');
    h.ws.on('request', (request: WebSocketRequest) => {
      if (request.resource === '/no') {
        request.reject(403);
        return;
      }
      const connection = request.accept('echo', request.origin);
      connections.push(connection);
      connection.on('message', (message: IMessage) => connection.sendUTF(message.utf8Data as string));
    });
    const client = new websocket.client({ http2: true });
    const first = await connect(client, `ws://127.0.0.1:${h.port}/yes`);
    await expect(connect(client, `ws://127.0.0.1:${h.port}/no`)).rejects.toThrow(/non-2xx status: 403/);
    expect(first.connected).toBe(true);
    first.sendUTF('still open');
    expect((await nextMessage(first)).utf8Data).toBe('still open');
  });

  test('abort() before the response: connectFailed, and the server sees the stream go', async () => {
    const h = await startH2Server('h2c');
    const held: WebSocketRequest[] = [];
    h.ws.on('request', (request: WebSocketRequest) => held.push(request));
    const client = new websocket.client({ http2: true });
    const failed = nextEvent<[Error]>(client, 'connectFailed');
    client.connect(`ws://127.0.0.1:${h.port}/`);
    await until(() => held.length === 1, 'the request on the server');
    client.abort();
    await failed;
    await until(() => h.ws.pendingRequests.length === 0, 'the pending request to go');
  });

  test('W3CWebSocket with clientConfig { http2: true } opens over HTTP/2', async () => {
    const h = await startH2Server('h2c');
    const { versions } = echoServer(h.ws);
    const socket = new websocket.w3cwebsocket(`ws://127.0.0.1:${h.port}/`, 'echo', undefined, undefined, undefined, { http2: true });
    onCleanup(() => socket.close());
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error('error event'));
    });
    expect(versions).toEqual(['2.0']);
    const reply = new Promise<string>((resolve) => {
      socket.onmessage = (event) => resolve(String(event.data));
    });
    socket.send('w3c over h2');
    expect(await reply).toBe('w3c over h2');
  });

  test('an idle pooled session does not keep the process alive', async () => {
    const h = await startH2Server('h2c');
    echoServer(h.ws);
    const script = `
      const WebSocketClient = require(${JSON.stringify(path.resolve(__dirname, '../../lib/WebSocketClient'))});
      const client = new WebSocketClient({ http2: true });
      client.on('connectFailed', (e) => { console.error(e); process.exit(2); });
      client.on('connect', (connection) => {
        connection.on('close', () => console.log('closed'));
        connection.close();
      });
      client.connect('ws://127.0.0.1:${h.port}/', 'echo');
    `;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill(), 8000);
    const [code] = await nextEvent<[number | null]>(child, 'exit', 9000);
    clearTimeout(timer);
    expect(out.trim()).toBe('closed');
    expect(code).toBe(0);
  });
});

describe('WebSocketClient with http2: a ClientHttp2Session', () => {
  test('WebSockets ride the application session; closing the session ends each with its own close event', async () => {
    const h = await startH2Server('h2c');
    echoServer(h.ws);
    const session = http2.connect(`http://127.0.0.1:${h.port}`);
    session.on('error', () => undefined);
    onCleanup(() => session.destroy());
    const first = await connect(new websocket.client({ http2: session }), `ws://127.0.0.1:${h.port}/a`);
    const second = await connect(new websocket.client({ http2: session }), `ws://127.0.0.1:${h.port}/b`);
    expect(h.sessions.size).toBe(1);
    first.sendUTF('one');
    expect((await nextMessage(first)).utf8Data).toBe('one');
    // Still the application's: open after its WebSockets close normally.
    const closes = [nextEvent<[number, string]>(first, 'close'), nextEvent<[number, string]>(second, 'close')];
    session.destroy();
    const [a, b] = await Promise.all(closes);
    expect(a![0]).toBe(1006);
    expect(b![0]).toBe(1006);
  });

  test('a session whose SETTINGS came long ago is used at once', async () => {
    const h = await startH2Server('h2c');
    const { versions } = echoServer(h.ws);
    const session = http2.connect(`http://127.0.0.1:${h.port}`);
    session.on('error', () => undefined);
    onCleanup(() => session.destroy());
    await nextEvent(session, 'remoteSettings');
    const connection = await connect(new websocket.client({ http2: session }), `ws://127.0.0.1:${h.port}/`);
    expect(versions).toEqual(['2.0']);
    connection.sendUTF('late');
    expect((await nextMessage(connection)).utf8Data).toBe('late');
  });
});
