/**
 * RFC 8441: a WebSocket accepted on an HTTP/2 stream carries RFC 6455 frames exactly as over a TCP
 * socket, on h2c and on TLS. The client is Node's raw http2 client writing hand-built masked frames;
 * every assertion is on the exact bytes the server sent back on the stream.
 */
import * as zlib from 'node:zlib';
import { deflateMessage, TAIL } from '../helpers/deflate-wire';
import { OP, binary, close, cont, frame, hex, ping, serverClose, text } from '../helpers/frames';
import {
  cleanup,
  connectSession,
  nextEvent,
  openWebSocket,
  startH2Server,
  until,
  type H2Server,
  type ServerConfig,
  type WebSocketConnection,
  type ServerKind,
} from './helpers';

afterEach(cleanup);

/** An echo server: text back as text, binary as binary; its connections are collected. */
async function echoServer(kind: ServerKind, config: Partial<ServerConfig> = {}): Promise<H2Server & { connections: WebSocketConnection[] }> {
  const h2 = await startH2Server(kind, config);
  const connections: WebSocketConnection[] = [];
  h2.ws.on('request', (request) => {
    const connection = request.accept(request.requestedProtocols[0] ?? null, request.origin);
    connections.push(connection);
    connection.on('message', (message) => {
      if (message.type === 'utf8') connection.sendUTF(message.utf8Data);
      else connection.sendBytes(message.binaryData);
    });
  });
  return { ...h2, connections };
}

/** The bytes of an unmasked (server) frame. */
const serverFrame = (opcode: number, payload: string | Buffer, fin = true): Buffer => frame({ opcode, payload, mask: false, fin });

describe.each<ServerKind>(['h2c', 'tls'])('WebSocket over an HTTP/2 stream (%s)', (kind) => {
  test('the 200 response has no Sec-WebSocket-Accept; a text message is echoed byte for byte', async () => {
    const h2 = await echoServer(kind);
    const session = await connectSession(h2.origin);
    const ws = await openWebSocket(session, '/echo');
    const response = await ws.response;
    expect(response[':status']).toBe(200);
    // RFC 8441 §5: no Sec-WebSocket-Accept (nor Upgrade / Connection) in an HTTP/2 answer.
    expect(response['sec-websocket-accept']).toBeUndefined();
    expect(response['upgrade']).toBeUndefined();
    ws.send(text('hello'));
    const echoed = await ws.next('the echo');
    expect(hex(echoed.raw)).toBe('81 05 68 65 6c 6c 6f');
  });

  test('binary with a 16-bit length, ping answered by a pong with the same payload', async () => {
    const h2 = await echoServer(kind);
    const session = await connectSession(h2.origin);
    const ws = await openWebSocket(session);
    const payload = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff));
    ws.send(binary(payload));
    const echoed = await ws.next('the binary echo');
    expect(echoed.raw.equals(serverFrame(OP.BINARY, payload))).toBe(true);
    expect(hex(echoed.raw.subarray(0, 4))).toBe('82 7e 01 2c');

    const pings: Buffer[] = [];
    h2.connections[0]!.on('ping', (_cancel, data) => pings.push(data));
    ws.send(ping('are you there'));
    const pong = await ws.next('the pong');
    expect(pong.raw.equals(serverFrame(OP.PONG, 'are you there'))).toBe(true);
    expect(pings.map(String)).toEqual(['are you there']);
  });

  test('a fragmented message with a ping between its fragments: pong first, then one message', async () => {
    const h2 = await echoServer(kind);
    const session = await connectSession(h2.origin);
    const ws = await openWebSocket(session);
    ws.send(Buffer.concat([text('Hel', { fin: false }), cont('lo, ', { fin: false }), ping('mid'), cont('world')]));
    const pong = await ws.next('the pong');
    expect(hex(pong.raw)).toBe(hex(serverFrame(OP.PONG, 'mid')));
    const message = await ws.next('the message');
    expect(message.raw.equals(serverFrame(OP.TEXT, 'Hello, world'))).toBe(true);
  });

  test('close handshake: the exact close frame back, then END_STREAM; the session stays usable', async () => {
    const h2 = await echoServer(kind);
    const session = await connectSession(h2.origin);
    const ws = await openWebSocket(session);
    await until(() => h2.connections.length === 1, 'the connection');
    const closed = nextEvent<[number, string]>(h2.connections[0]!, 'close');
    ws.send(close(1000, 'bye'));
    const reply = await ws.next('the close reply');
    // The reply echoes the code, without the reason, as over TCP (WebSocket-Node's reply).
    expect(hex(reply.raw)).toBe(hex(serverClose(1000)));
    await ws.ended; // the server's END_STREAM (RFC 8441 §5: in place of TCP FIN)
    ws.stream.end();
    expect(await closed).toEqual([1000, 'bye']);
    expect(await ws.closed).toBe(0); // closed normally, no RST_STREAM error code
    expect(session.closed || session.destroyed).toBe(false);
    expect(h2.ws.connections).toHaveLength(0);

    const again = await openWebSocket(session);
    again.send(text('still here'));
    expect((await again.next('the second echo')).payload.toString()).toBe('still here');
  });

  test('server-initiated close: the close frame, END_STREAM after the reply, and the close event', async () => {
    const h2 = await echoServer(kind);
    const session = await connectSession(h2.origin);
    const ws = await openWebSocket(session);
    await until(() => h2.connections.length === 1, 'the connection');
    const connection = h2.connections[0]!;
    const closed = nextEvent<[number, string]>(connection, 'close');
    connection.close(4001, 'done');
    const frameIn = await ws.next('the close frame');
    expect(frameIn.raw.equals(serverClose(4001, 'done'))).toBe(true);
    ws.send(close(4001, 'done'));
    ws.stream.end();
    await ws.ended;
    expect(await closed).toEqual([4001, 'done']);
    expect(await ws.closed).toBe(0);
  });

  test('an unmasked client frame fails the connection with 1002 (RFC 6455 §5.1)', async () => {
    const h2 = await echoServer(kind);
    const session = await connectSession(h2.origin);
    const ws = await openWebSocket(session);
    await until(() => h2.connections.length === 1, 'the connection');
    const closed = nextEvent<[number, string]>(h2.connections[0]!, 'close');
    ws.send(text('plain', { mask: false }));
    const reply = await ws.next('the close frame');
    expect(reply.opcode).toBe(OP.CLOSE);
    expect(reply.masked).toBe(false);
    expect(reply.payload.readUInt16BE(0)).toBe(1002);
    await ws.ended;
    expect((await closed)[0]).toBe(1002);
  });

  test('maxReceivedMessageSize applies: a larger message is refused with 1009', async () => {
    const h2 = await echoServer(kind, { maxReceivedMessageSize: 100 });
    const session = await connectSession(h2.origin);
    const ws = await openWebSocket(session);
    ws.send(Buffer.concat([text('a'.repeat(60), { fin: false }), cont('b'.repeat(60))]));
    const reply = await ws.next('the close frame');
    expect(reply.opcode).toBe(OP.CLOSE);
    expect(reply.payload.readUInt16BE(0)).toBe(1009);
  });

  test('permessage-deflate is negotiated in the 200 and applies to the messages both ways', async () => {
    const h2 = await echoServer(kind, { perMessageDeflate: { threshold: 0 } });
    const session = await connectSession(h2.origin);
    const ws = await openWebSocket(session, '/', { 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' });
    const response = await ws.response;
    expect(String(response['sec-websocket-extensions'])).toMatch(/^permessage-deflate/);
    await until(() => h2.connections.length === 1, 'the connection');
    expect(h2.connections[0]!.extensions.map((e) => e.name)).toEqual(['permessage-deflate']);
    const message = 'compress me, compress me, compress me, compress me';
    ws.send(text(deflateMessage(message), { rsv1: true }));
    const echoed = await ws.next('the compressed echo');
    expect(echoed.opcode).toBe(OP.TEXT);
    expect(echoed.rsv1).toBe(true);
    expect(echoed.payload.length).toBeLessThan(Buffer.byteLength(message));
    const inflated = zlib.inflateRawSync(Buffer.concat([echoed.payload, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    expect(inflated.toString()).toBe(message);
  });

  test('keepalive pings go out on the stream, unmasked', async () => {
    const h2 = await echoServer(kind, { keepalive: true, keepaliveInterval: 100, dropConnectionOnKeepaliveTimeout: false });
    const session = await connectSession(h2.origin);
    const ws = await openWebSocket(session);
    const keepalivePing = await ws.next('a keepalive ping');
    expect(hex(keepalivePing.raw)).toBe('89 00');
  });
});
