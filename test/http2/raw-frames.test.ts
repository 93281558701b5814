/**
 * What Node's http2 client cannot be made to send, written as raw HTTP/2 frames (RFC 9113 §4) on a
 * TCP socket: DATA after END_STREAM on a WebSocket's stream (RFC 9113 §5.1: the stream is closed on
 * that side; what follows is the peer's error). The message before END_STREAM is delivered, the
 * connection ends with a close event (1006: no close frame), nothing crashes, and the server keeps
 * serving.
 */
import * as net from 'node:net';
import { text } from '../helpers/frames';
import { cleanup, nextEvent, onCleanup, openWebSocket, connectSession, startH2Server, until, type WebSocketConnection } from './helpers';
import type { IMessage } from '../../lib/public-types';

afterEach(cleanup);

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DATA = 0x0;
const HEADERS = 0x1;
const SETTINGS = 0x4;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const ACK = 0x1;

/** One HTTP/2 frame: 9-byte header (length, type, flags, stream id) and the payload. */
function h2frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/** HPACK "literal header field without indexing, new name" (RFC 7541 §6.2.2), no Huffman; short strings only. */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name, 'latin1'), Buffer.from([value.length]), Buffer.from(value, 'latin1')]);
}

/** Reads frames from the socket: type, flags and stream id of each, in order. */
function frameReader(socket: net.Socket): { frames: Array<{ type: number; flags: number; stream: number }> } {
  const state = { frames: [] as Array<{ type: number; flags: number; stream: number }> };
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 9) {
      const length = buffered.readUIntBE(0, 3);
      if (buffered.length < 9 + length) break;
      state.frames.push({ type: buffered[3]!, flags: buffered[4]!, stream: buffered.readUInt32BE(5) & 0x7fffffff });
      buffered = buffered.subarray(9 + length);
    }
  });
  return state;
}

test('DATA after END_STREAM on a WebSocket stream: the message before it is delivered, the connection closes, the server goes on', async () => {
  const h = await startH2Server('h2c');
  const messages: string[] = [];
  const accepted = new Promise<WebSocketConnection>((resolve) => {
    h.ws.on('request', (request) => {
      const connection = request.accept(null, request.origin);
      connection.on('message', (message: IMessage) => messages.push(message.utf8Data as string));
      connection.on('error', () => undefined);
      resolve(connection);
    });
  });
  const socket = net.connect(h.port, '127.0.0.1');
  socket.on('error', () => undefined);
  onCleanup(() => {
    socket.destroy();
  });
  await nextEvent(socket, 'connect');
  const reader = frameReader(socket);
  socket.write(Buffer.concat([PREFACE, h2frame(SETTINGS, 0, 0)]));
  await until(() => reader.frames.some((f) => f.type === SETTINGS && (f.flags & ACK) === 0), "the server's SETTINGS");
  socket.write(h2frame(SETTINGS, ACK, 0));
  // RFC 8441 §4: the extended CONNECT.
  const block = Buffer.concat([
    literal(':method', 'CONNECT'),
    literal(':protocol', 'websocket'),
    literal(':scheme', 'http'),
    literal(':path', '/'),
    literal(':authority', `127.0.0.1:${h.port}`),
    literal('sec-websocket-version', '13'),
  ]);
  socket.write(h2frame(HEADERS, END_HEADERS, 1, block));
  const connection = await accepted;
  await until(() => reader.frames.some((f) => f.type === HEADERS && f.stream === 1), 'the 200 on stream 1');
  const closed = nextEvent<[number, string]>(connection, 'close', 5000);
  // A text message, END_STREAM, then more DATA on the closed half of the stream.
  socket.write(h2frame(DATA, END_STREAM, 1, text('before the end')));
  socket.write(h2frame(DATA, 0, 1, text('after the end')));
  const [code] = await closed;
  expect(messages).toEqual(['before the end']);
  expect(code).toBe(1006);
  // Our side ended its half too (END_STREAM on stream 1); whether nghttp2 then answers the stray DATA
  // with RST_STREAM or ignores it is its choice (RFC 9113 §5.1 "MAY"); the server keeps serving.
  await until(() => reader.frames.some((f) => f.type === DATA && f.stream === 1 && (f.flags & END_STREAM) !== 0), 'END_STREAM from our side');
  const session = await connectSession(h.origin);
  const ws = await openWebSocket(session, '/');
  ws.send(text('still serving'));
  await until(() => messages.includes('still serving'), 'a message on a new session');
});
