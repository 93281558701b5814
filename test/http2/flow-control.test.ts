/**
 * HTTP/2 flow control under a WebSocket (RFC 9113 §5.2, RFC 8441 §5): a peer that stops reading
 * closes its stream's window; what the other side then writes waits in that stream, and the
 * WebSocket limits that bound a socket's queues must bound it the same way. Both directions:
 * a client that never reads (our server's output stalls: dropped with 1008 past maxBufferedBytes),
 * and our server pausing its reading while a client floods (the client's writes stall; nothing
 * piles up on the server; everything arrives once it resumes).
 */
import { binary } from '../helpers/frames';
import { cleanup, connectHeaders, connectSession, delay, nextEvent, startH2Server, until, type WebSocketConnection } from './helpers';
import type { IMessage } from '../../lib/public-types';

afterEach(cleanup);

const KiB = 1024;

test('a client that never reads: our output waits in the stream, bounded by maxBufferedBytes, then the connection is dropped with 1008', async () => {
  const limit = 256 * KiB;
  const h = await startH2Server('h2c', { maxBufferedBytes: limit });
  const accepted = new Promise<WebSocketConnection>((resolve) => {
    h.ws.on('request', (request) => resolve(request.accept(null, request.origin)));
  });
  const session = await connectSession(h.origin);
  // A raw extended CONNECT whose stream is never read: no WINDOW_UPDATE goes back for it.
  const stream = session.request(connectHeaders('/'), { endStream: false });
  stream.on('error', () => undefined);
  await nextEvent(stream, 'response');
  const connection = await accepted;
  connection.on('error', () => undefined);
  const closed = nextEvent<[number, string]>(connection, 'close', 10_000);
  const message = Buffer.alloc(32 * KiB, 7);
  let sent = 0;
  let mostQueued = 0;
  // 8 MiB offered, 32 KiB at a time, as fast as the application can call sendBytes().
  while (connection.connected && sent < 256) {
    connection.sendBytes(message);
    sent++;
    mostQueued = Math.max(mostQueued, connection.socket.writableLength);
    if (sent % 8 === 0) await delay(1);
  }
  const [code] = await closed;
  expect(code).toBe(1008);
  // Dropped long before the 8 MiB were queued: the stream never held much more than the limit.
  expect(sent).toBeLessThan(256);
  expect(mostQueued).toBeLessThanOrEqual(limit + message.length + 64);
});

test('our server pauses reading while a client floods: the stream window closes, little is held, and every message arrives after resume()', async () => {
  const h = await startH2Server('h2c', { maxReceivedMessageSize: 64 * KiB });
  const received: number[] = [];
  const accepted = new Promise<WebSocketConnection>((resolve) => {
    h.ws.on('request', (request) => {
      const connection = request.accept(null, request.origin);
      connection.pause();
      connection.on('message', (m: IMessage) => received.push((m.binaryData as Buffer).readUInt32BE(0)));
      resolve(connection);
    });
  });
  const session = await connectSession(h.origin);
  const stream = session.request(connectHeaders('/'), { endStream: false });
  stream.on('error', () => undefined);
  await nextEvent(stream, 'response');
  const connection = await accepted;
  const total = 256;
  let written = 0;
  let stalled = false;
  const payload = Buffer.alloc(16 * KiB);
  // Writes until the stream says to wait, as a well-behaved writer does; counts what got out.
  const pump = (): void => {
    while (written < total) {
      payload.writeUInt32BE(written, 0);
      const ok = stream.write(binary(payload, { mask: true }));
      written++;
      if (!ok) {
        stalled = true;
        stream.once('drain', pump);
        return;
      }
    }
  };
  pump();
  await delay(300);
  // The client had to stop: the server's window for the stream stayed closed while paused.
  expect(stalled).toBe(true);
  expect(received).toEqual([]);
  // What the server holds for the paused connection stays near the stream's window, far below the 4 MiB sent.
  const held = connection.socket.readableLength;
  expect(held).toBeLessThan(1024 * KiB);
  connection.resume();
  await until(() => received.length === total, `all ${total} messages (got ${received.length})`, 10_000);
  expect(received).toEqual(Array.from({ length: total }, (_, i) => i));
});
