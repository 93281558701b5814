/**
 * The closing handshake and input flow against hostile or careless peers (issue: half-open peers,
 * floods after Close, re-entrant resume()), over raw sockets on 127.0.0.1:
 * - a peer that sends Close, reads our Close and our FIN and never closes its own side is cut when
 *   closeTimeout runs out (RFC 6455 §7.1.1: after both Close frames the server MUST close TCP);
 * - bytes a peer streams after its Close are discarded unstored: memory stays flat;
 * - pause()/resume() from any listener (inside an inflation, a 'close' listener, a 'frame' event)
 *   never re-enters the parser: every message arrives once, in order;
 * - connection.config is read live for outgoing fragmentation and the frame size limit.
 */
import { openRawConnection, RawClient } from '../helpers/raw-client';
import * as f from '../helpers/frames';
import {
  MiB,
  deflateMessage,
  expectSettled,
  growth,
  guardProcess,
  memory,
  onlyClose,
  startHardenedServer,
  until,
  type WebSocketConnection,
} from './helpers';

guardProcess();

const DEFLATE_OFFER: Array<[string, string]> = [['Sec-WebSocket-Extensions', 'permessage-deflate']];

describe('a peer that stays half-open after the closing handshake', () => {
  test('is cut when closeTimeout runs out: close 1000 reported, socket destroyed, nothing left behind', async () => {
    const h = await startHardenedServer({ closeTimeout: 300 });
    const { client, connection } = await openRawConnection(h, {}, { allowHalfOpen: true });
    const started = Date.now();
    client.write(f.close(1000, 'bye'));
    const reply = await client.readFrame();
    expect([reply.opcode, reply.payload.readUInt16BE(0)]).toEqual([f.OP.CLOSE, 1000]);
    await client.waitForEnd();
    // The peer never ends its side: only our deadline can finish this.
    expect(connection.state).toBe('peer_requested_close');
    await until(() => (h.closes.get(connection)?.length ?? 0) > 0, "the connection's 'close'", 3000);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(onlyClose(h, connection)).toEqual([1000, 'bye']);
    // Our side is gone (the peer, which never reads its end of file, only learns on its next write).
    expect(connection.socket.destroyed).toBe(true);
    await expectSettled(h);
  });

  test('a peer that sends Close and then goes silent without reading anything is cut by the deadline too', async () => {
    const h = await startHardenedServer({ closeTimeout: 200 });
    const { client, connection } = await openRawConnection(h, {}, { allowHalfOpen: true });
    client.socket.pause();
    client.write(f.close(1001));
    await until(() => (h.closes.get(connection)?.length ?? 0) > 0, "the connection's 'close'", 3000);
    expect(onlyClose(h, connection)).toEqual([1001, 'Remote peer is going away']);
    await expectSettled(h);
  });

  test('a peer that closes its side promptly is not kept waiting for the deadline', async () => {
    const h = await startHardenedServer({ closeTimeout: 60_000 });
    const { client, connection } = await openRawConnection(h);
    client.write(f.close(1000));
    await client.waitForClose();
    await until(() => (h.closes.get(connection)?.length ?? 0) > 0, "the connection's 'close'");
    expect(onlyClose(h, connection)).toEqual([1000, 'Normal connection closure']);
    await expectSettled(h);
  });
});

describe('a peer that streams data after its Close', () => {
  test('192 MiB after Close: discarded as it arrives (RSS growth < 32 MiB, arrayBuffers < 8 MiB), then cut by the deadline', async () => {
    const h = await startHardenedServer({ closeTimeout: 5000 });
    const { client, connection } = await openRawConnection(h, {}, { allowHalfOpen: true });
    client.discard = true;
    const before = memory();
    client.write(f.close(1000));
    const garbage = Buffer.alloc(MiB, 0x5a);
    let sent = 0;
    const socket = client.socket;
    while (sent < 192 * MiB && !client.closed && !socket.destroyed) {
      if (!socket.write(garbage)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            socket.removeListener('drain', done);
            socket.removeListener('close', done);
            resolve();
          };
          socket.once('drain', done);
          socket.once('close', done);
        });
      }
      sent += garbage.length;
    }
    // The server read it all (it keeps reading to see the peer's FIN) and kept none of it.
    await until(() => connection.socket.bytesRead >= sent || connection.socket.destroyed, 'the server to read the flood', 10_000);
    const after = memory();
    const grown = growth(before, after);
    expect(sent).toBeGreaterThanOrEqual(192 * MiB);
    expect(grown.arrayBuffers).toBeLessThan(8 * MiB);
    expect(grown.rss).toBeLessThan(32 * MiB);
    await until(() => (h.closes.get(connection)?.length ?? 0) > 0, "the connection's 'close'", 8000);
    expect(onlyClose(h, connection)).toEqual([1000, 'Normal connection closure']);
    await expectSettled(h);
  }, 30_000);
});

describe('pause() and resume() from listeners never re-enter the parser', () => {
  /** Two compressed messages and one plain one, in one TCP write. */
  function threeMessages(): Buffer {
    return Buffer.concat([
      f.text(deflateMessage(Buffer.from('first, compressed')), { rsv1: true }),
      f.binary(deflateMessage(Buffer.from('second, compressed')), { rsv1: true }),
      f.text('third, plain'),
    ]);
  }

  async function deflateConnection(): Promise<{ client: RawClient; connection: WebSocketConnection; h: Awaited<ReturnType<typeof startHardenedServer>> }> {
    const h = await startHardenedServer({ perMessageDeflate: true }, { echo: false });
    const { client, connection, response } = await openRawConnection(h, { headers: DEFLATE_OFFER });
    expect(response).toMatch(/Sec-WebSocket-Extensions: permessage-deflate/i);
    return { client, connection, h };
  }

  const received = (connection: WebSocketConnection): string[] => {
    const messages: string[] = [];
    connection.on('message', (m) => messages.push(m.type === 'utf8' ? m.utf8Data : `binary:${m.binaryData.toString()}`));
    return messages;
  };

  test('resume() inside every message listener: all three arrive, in order, no close', async () => {
    const { client, connection, h } = await deflateConnection();
    const messages = received(connection);
    connection.on('message', () => connection.resume());
    client.write(threeMessages());
    await until(() => messages.length === 3, 'three messages');
    expect(messages).toEqual(['first, compressed', 'binary:second, compressed', 'third, plain']);
    expect(h.closes.get(connection)).toEqual([]);
    client.write(f.close(1000));
    await client.waitForClose();
  });

  test('pause() then resume() inside the listener, and resume() later from a timer', async () => {
    const { client, connection, h } = await deflateConnection();
    const messages = received(connection);
    let calls = 0;
    connection.on('message', () => {
      calls++;
      connection.pause();
      if (calls === 1) connection.resume();
      else setTimeout(() => connection.resume(), 20);
    });
    client.write(Buffer.concat([threeMessages(), threeMessages()]));
    await until(() => messages.length === 6, 'six messages');
    expect(messages).toEqual([
      'first, compressed',
      'binary:second, compressed',
      'third, plain',
      'first, compressed',
      'binary:second, compressed',
      'third, plain',
    ]);
    expect(h.closes.get(connection)).toEqual([]);
  });

  test("resume() and pause() inside a 'close' listener and inside ping handling do nothing harmful", async () => {
    const { client, connection, h } = await deflateConnection();
    const messages = received(connection);
    connection.on('ping', () => {
      connection.pause();
      connection.resume();
    });
    connection.on('close', () => {
      connection.resume();
      connection.pause();
      connection.resume();
    });
    client.write(Buffer.concat([threeMessages(), f.ping('p'), f.close(1000)]));
    await client.waitForClose();
    await until(() => (h.closes.get(connection)?.length ?? 0) > 0, "'close'");
    expect(messages).toEqual(['first, compressed', 'binary:second, compressed', 'third, plain']);
    expect(onlyClose(h, connection)).toEqual([1000, 'Normal connection closure']);
    await expectSettled(h);
  });

  test("resume() inside 'frame' events (assembleFragments: false) delivers every frame once", async () => {
    const h = await startHardenedServer({ assembleFragments: false }, { echo: false });
    const { client, connection } = await openRawConnection(h);
    const frames: string[] = [];
    connection.on('frame', (frame) => {
      frames.push(`${frame.opcode}:${frame.binaryPayload?.toString() ?? ''}`);
      connection.pause();
      connection.resume();
    });
    client.write(Buffer.concat([f.text('a', { fin: false }), f.cont('b', { fin: false }), f.cont('c'), f.text('d')]));
    await until(() => frames.length === 4, 'four frames');
    expect(frames).toEqual(['1:a', '0:b', '0:c', '1:d']);
  });

  test('many small chunks arriving while paused are delivered in order after resume()', async () => {
    const h = await startHardenedServer({}, { echo: false });
    const { client, connection } = await openRawConnection(h);
    const messages = received(connection);
    connection.pause();
    const wire = Buffer.concat(Array.from({ length: 200 }, (_, i) => f.text(`m${i}`)));
    for (let at = 0; at < wire.length; at += 7) client.write(wire.subarray(at, at + 7));
    await until(() => connection.socket.bytesRead > wire.length, 'the server to read everything', 5000).catch(() => undefined);
    expect(messages).toEqual([]);
    connection.resume();
    await until(() => messages.length === 200, '200 messages', 5000);
    expect(messages).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
  });
});

describe('connection.config is read live, as WebSocket-Node reads it', () => {
  test('fragmentationThreshold and fragmentOutgoingMessages changed mid-connection apply to the next send', async () => {
    const h = await startHardenedServer({}, { echo: false });
    const { client, connection } = await openRawConnection(h);
    connection.sendUTF('x'.repeat(25));
    expect((await client.readFrame()).fin).toBe(true);
    connection.config.fragmentationThreshold = 10;
    connection.sendUTF('y'.repeat(25));
    const parts = [await client.readFrame(), await client.readFrame(), await client.readFrame()];
    expect(parts.map((p) => [p.opcode, p.fin, p.payload.length])).toEqual([
      [1, false, 10],
      [0, false, 10],
      [0, true, 5],
    ]);
    connection.config.fragmentOutgoingMessages = false;
    connection.sendBytes(Buffer.alloc(40, 1));
    const whole = await client.readFrame();
    expect([whole.opcode, whole.fin, whole.payload.length]).toEqual([2, true, 40]);
  });

  test('maxReceivedFrameSize lowered mid-connection: the next larger frame fails with 1009', async () => {
    const h = await startHardenedServer({}, { echo: true });
    const { client, connection } = await openRawConnection(h);
    client.write(f.binary(Buffer.alloc(200, 2)));
    expect((await client.readFrame()).payload.length).toBe(200);
    connection.config.maxReceivedFrameSize = 100;
    client.write(f.binary(Buffer.alloc(200, 3)));
    const closeFrame = await client.readFrame();
    expect([closeFrame.opcode, closeFrame.payload.readUInt16BE(0)]).toEqual([f.OP.CLOSE, 1009]);
    await until(() => (h.closes.get(connection)?.length ?? 0) > 0, "'close'");
    expect(onlyClose(h, connection)[0]).toBe(1009);
  });
});
