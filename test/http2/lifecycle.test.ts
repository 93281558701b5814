/**
 * RFC 8441 connections over the life of their streams and sessions: several WebSockets multiplexed
 * on one session, a stream reset (RST_STREAM) ending only its own connection, a session's end
 * reaching every connection on it, closeAllConnections(), and unmount() removing every listener.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { binary, text } from '../helpers/frames';
import {
  cleanup,
  connectHeaders,
  connectSession,
  delay,
  nextEvent,
  openWebSocket,
  startH2Server,
  until,
  websocket,
  WsStream,
  type H2Server,
  type WebSocketConnection,
} from './helpers';

afterEach(cleanup);

interface Closed {
  connection: WebSocketConnection;
  code: number;
  description: string;
}

/** An echo server that records each connection's 'close' event (one entry per event). */
async function trackedEchoServer(): Promise<H2Server & { connections: WebSocketConnection[]; closes: Closed[]; errors: Error[] }> {
  const h2 = await startH2Server('h2c');
  const connections: WebSocketConnection[] = [];
  const closes: Closed[] = [];
  const errors: Error[] = [];
  h2.ws.on('request', (request) => {
    const connection = request.accept();
    connections.push(connection);
    connection.on('message', (message) => {
      if (message.type === 'utf8') connection.sendUTF(message.utf8Data);
      else connection.sendBytes(message.binaryData);
    });
    connection.on('close', (code: number, description: string) => closes.push({ connection, code, description }));
  });
  return { ...h2, connections, closes, errors };
}

test('ten WebSockets multiplexed on one session, each with its own messages; closing one leaves the others', async () => {
  const h2 = await trackedEchoServer();
  const session = await connectSession(h2.origin);
  const sockets = await Promise.all(Array.from({ length: 10 }, (_, i) => openWebSocket(session, `/ws/${i}`)));
  await until(() => h2.connections.length === 10, 'ten connections');
  expect(h2.ws.connections).toHaveLength(10);
  expect(h2.sessions.size).toBe(1);
  // Interleaved writes on every stream; each echo must come back on its own stream only.
  for (let round = 0; round < 3; round++) sockets.forEach((ws, i) => ws.send(text(`socket ${i} round ${round}`)));
  for (const [i, ws] of sockets.entries()) {
    for (let round = 0; round < 3; round++) expect((await ws.next(`echo ${i}/${round}`)).payload.toString()).toBe(`socket ${i} round ${round}`);
  }
  h2.connections[3]!.close(1000, 'only three');
  await sockets[3]!.next('the close frame of socket 3');
  await sockets[3]!.ended;
  sockets[3]!.stream.end();
  await until(() => h2.closes.length === 1, 'one close event');
  expect(h2.closes[0]!.connection).toBe(h2.connections[3]);
  for (const [i, ws] of sockets.entries()) {
    if (i === 3) continue;
    ws.send(binary(Buffer.from([i])));
    expect((await ws.next(`binary echo ${i}`)).payload).toEqual(Buffer.from([i]));
  }
  expect(h2.ws.connections).toHaveLength(9);
});

test.each([
  ['CANCEL', http2.constants.NGHTTP2_CANCEL],
  ['INTERNAL_ERROR', http2.constants.NGHTTP2_INTERNAL_ERROR],
])('RST_STREAM (%s) mid-message closes that connection with 1006 only; the other WebSocket keeps working', async (_name, code) => {
  const h2 = await trackedEchoServer();
  const session = await connectSession(h2.origin);
  const victim = await openWebSocket(session, '/victim');
  const survivor = await openWebSocket(session, '/survivor');
  await until(() => h2.connections.length === 2, 'two connections');
  // The first fragment of a message, then the reset: the message is never finished.
  victim.send(text('half a mess', { fin: false }));
  await delay(20);
  victim.stream.close(code);
  await until(() => h2.closes.length === 1, 'the close event');
  expect(h2.closes[0]!.connection).toBe(h2.connections[0]);
  expect(h2.closes[0]!.code).toBe(1006);
  expect(h2.ws.connections).toEqual([h2.connections[1]]);
  survivor.send(text('still alive'));
  expect((await survivor.next('the echo')).payload.toString()).toBe('still alive');
  await delay(20);
  expect(h2.closes).toHaveLength(1);
});

test("a reset stream's error reaches the connection's 'error' listener when it has one", async () => {
  const h2 = await trackedEchoServer();
  const session = await connectSession(h2.origin);
  const ws = await openWebSocket(session);
  await until(() => h2.connections.length === 1, 'the connection');
  const errored = nextEvent<[Error & { code?: string }]>(h2.connections[0]!, 'error');
  ws.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  const [error] = await errored;
  expect(error.code).toBe('ERR_HTTP2_STREAM_ERROR');
  await until(() => h2.closes.length === 1, 'the close event');
  expect(h2.closes[0]!.code).toBe(1006);
});

test('the session destroyed: every WebSocket on it ends, each with its own close event', async () => {
  const h2 = await trackedEchoServer();
  const session = await connectSession(h2.origin);
  const other = await connectSession(h2.origin);
  await Promise.all([openWebSocket(session), openWebSocket(session), openWebSocket(session)]);
  const elsewhere = await openWebSocket(other);
  await until(() => h2.connections.length === 4, 'four connections');
  session.destroy();
  await until(() => h2.closes.length === 3, 'three close events');
  expect(new Set(h2.closes.map((c) => c.connection)).size).toBe(3);
  expect(h2.closes.every((c) => c.code === 1006)).toBe(true);
  expect(h2.closes.map((c) => c.connection)).not.toContain(h2.connections[3]);
  elsewhere.send(text('other session'));
  expect((await elsewhere.next('the echo')).payload.toString()).toBe('other session');
  expect(h2.ws.connections).toEqual([h2.connections[3]]);
});

test('a GOAWAY with an error code from the client ends every WebSocket of the session with 1006', async () => {
  const h2 = await trackedEchoServer();
  const session = await connectSession(h2.origin);
  await Promise.all([openWebSocket(session), openWebSocket(session)]);
  await until(() => h2.connections.length === 2, 'two connections');
  session.goaway(http2.constants.NGHTTP2_PROTOCOL_ERROR);
  await until(() => h2.closes.length === 2, 'two close events');
  expect(h2.closes.map((c) => c.code)).toEqual([1006, 1006]);
});

test('a server-side session destroyed ends every WebSocket on it', async () => {
  const h2 = await trackedEchoServer();
  const session = await connectSession(h2.origin);
  const sockets = await Promise.all([openWebSocket(session), openWebSocket(session)]);
  await until(() => h2.connections.length === 2, 'two connections');
  for (const serverSession of h2.sessions) serverSession.destroy();
  await until(() => h2.closes.length === 2, 'two close events');
  expect(h2.closes.map((c) => c.code)).toEqual([1006, 1006]);
  await Promise.all(sockets.map((ws) => ws.closed));
});

test('closeAllConnections(): a close frame on every stream, pending requests refused with 503', async () => {
  const h2 = await startH2Server('h2c');
  const session = await connectSession(h2.origin);
  h2.ws.on('request', (request) => {
    if (request.resource === '/accept') request.accept();
  });
  const open = await openWebSocket(session, '/accept');
  const pending = new WsStream(session, connectHeaders('/wait'));
  await until(() => h2.ws.pendingRequests.length === 1, 'the pending request');
  h2.ws.closeAllConnections();
  const closeFrame = await open.next('the close frame');
  expect(closeFrame.payload.readUInt16BE(0)).toBe(1000);
  expect((await pending.response)[':status']).toBe(503);
});

test("unmount() and shutDown() remove the 'stream' and 'connect' listeners", () => {
  const server = http2.createServer();
  const before = { stream: server.listenerCount('stream'), connect: server.listenerCount('connect'), upgrade: server.listenerCount('upgrade') };
  const ws = new websocket.server({ httpServer: server as never, keepalive: false });
  expect(server.listenerCount('stream')).toBe(before.stream + 1);
  expect(server.listenerCount('connect')).toBe(before.connect + 1);
  ws.unmount();
  expect({ stream: server.listenerCount('stream'), connect: server.listenerCount('connect'), upgrade: server.listenerCount('upgrade') }).toEqual(before);
  // Mounted again (mount() after unmount()), and on a list with an HTTP/1.1 server.
  const h1 = http.createServer();
  ws.mount({ httpServer: [h1, server as never], keepalive: false });
  expect(server.listenerCount('stream')).toBe(before.stream + 1);
  ws.shutDown();
  expect(server.listenerCount('stream')).toBe(before.stream);
  expect(server.listenerCount('connect')).toBe(before.connect);
  expect(h1.listenerCount('upgrade')).toBe(0);
  expect(h1.listenerCount('stream')).toBe(0);
});

test('after unmount() a WebSocket CONNECT is no longer taken; open connections keep working', async () => {
  const h2 = await trackedEchoServer();
  const session = await connectSession(h2.origin);
  const open = await openWebSocket(session);
  await until(() => h2.connections.length === 1, 'the connection');
  h2.ws.unmount();
  const late = new WsStream(session, connectHeaders('/late'));
  let answered = false;
  late.response.then(() => (answered = true)).catch(() => undefined);
  open.send(text('after unmount'));
  expect((await open.next('the echo')).payload.toString()).toBe('after unmount');
  await delay(100);
  expect(answered).toBe(false);
  expect(h2.connections).toHaveLength(1);
  late.stream.close(http2.constants.NGHTTP2_CANCEL);
});

test('a client that stops reading is held back by HTTP/2 flow control; maxBufferedBytes then drops it with 1008', async () => {
  const h2 = await startH2Server('h2c', { maxBufferedBytes: 256 * 1024 });
  const connected = nextEvent<[WebSocketConnection]>(h2.ws, 'connect');
  h2.ws.on('request', (request) => request.accept());
  const session = await connectSession(h2.origin);
  const ws = await openWebSocket(session);
  const [connection] = await connected;
  ws.stream.pause();
  const closed = nextEvent<[number, string]>(connection, 'close');
  const chunk = Buffer.alloc(32 * 1024, 7);
  let sent = 0;
  // Far more than the stream's flow-control window (64 KiB by default) plus the limit.
  while (connection.connected && sent < 64) {
    connection.sendBytes(chunk);
    sent++;
    await delay(1);
  }
  expect(await closed).toEqual([1008, 'Output buffer limit exceeded.']);
  expect(sent).toBeLessThan(64);
  expect(h2.sessions.size).toBe(1); // the session is not affected
});

test('a pending request whose stream is reset with an error code does not crash the process', async () => {
  const h2 = await startH2Server('h2c');
  h2.ws.on('request', () => undefined);
  const session = await connectSession(h2.origin);
  const ws = new WsStream(session, connectHeaders());
  await until(() => h2.ws.pendingRequests.length === 1, 'the pending request');
  ws.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  await until(() => h2.ws.pendingRequests.length === 0, 'the request to leave pendingRequests');
  const again = await connectSession(h2.origin);
  expect(again.destroyed).toBe(false);
});

test('a GOAWAY without error (client session.close()) stops new streams only: open WebSockets go on', async () => {
  const h2 = await trackedEchoServer();
  const session = await connectSession(h2.origin);
  const ws = await openWebSocket(session);
  await until(() => h2.connections.length === 1, 'the connection');
  const goaway = nextEvent<[number]>([...h2.sessions][0]!, 'goaway');
  session.close();
  expect((await goaway)[0]).toBe(http2.constants.NGHTTP2_NO_ERROR);
  ws.send(text('after goaway'));
  expect((await ws.next('the echo')).payload.toString()).toBe('after goaway');
  expect(h2.closes).toHaveLength(0);
  h2.connections[0]!.close(1000, 'done');
  await ws.next('the close frame');
  ws.stream.end();
  await until(() => h2.closes.length === 1, 'the close event');
  await until(() => h2.sessions.size === 0, 'the session to end once its last stream closed');
});
