/**
 * Socket faults at every stage of a server connection's life: the peer resets (RST), closes
 * (FIN then gone) or half-closes (end()) while its request is pending, around the 101 write,
 * mid-frame, mid-fragmented message, during the closing handshake and during a compressed message;
 * and writes to a peer that has gone (EPIPE). After each: nothing thrown out of the library, 'close'
 * exactly once, the server's bookkeeping empty, no timer left behind, and a fresh client still served.
 * 'error' reaches the application only when it listens; without a listener nothing escapes.
 */
import { RawClient, buildHandshake, openRawConnection } from '../helpers/raw-client';
import * as f from '../helpers/frames';
import {
  MiB,
  blockFor,
  deflateMessage,
  expectServing,
  expectSettled,
  guardProcess,
  isError,
  noise,
  onlyClose,
  serverHasRead,
  startHardenedServer,
  until,
  type Hardened,
  type WebSocketConnection,
  type WebSocketRequest,
} from './helpers';

guardProcess();

type Fault = 'reset' | 'destroy' | 'end';
const FAULTS: Fault[] = ['reset', 'destroy', 'end'];
const LISTENING = [false, true];

/** What the peer does: RST (resetAndDestroy), FIN and close (destroy), or FIN and keep reading (end). */
function inflict(client: RawClient, fault: Fault): void {
  if (fault === 'reset') client.socket.resetAndDestroy();
  else if (fault === 'destroy') client.destroy();
  else client.socket.end();
}

/** Errors the application saw on `connection` (only recorded with errorListener). */
function errorsOf(h: Hardened, connection: WebSocketConnection): Error[] {
  return h.errors.get(connection) ?? [];
}

/**
 * Without a listener nothing is emitted (and nothing thrown, which the process guard checks). With
 * one, a reset of an open connection reaches the application as exactly one ECONNRESET/EPIPE error;
 * other faults as at most one.
 */
function expectErrors(h: Hardened, connection: WebSocketConnection, listening: boolean, expected?: number): void {
  const errors = errorsOf(h, connection);
  if (!listening) {
    expect(errors).toEqual([]);
    return;
  }
  if (expected !== undefined) expect(errors).toHaveLength(expected);
  else expect(errors.length).toBeLessThanOrEqual(1);
  for (const error of errors) {
    expect(isError(error)).toBe(true);
    expect(['ECONNRESET', 'EPIPE']).toContain((error as NodeJS.ErrnoException).code);
  }
}

async function sendHandshake(h: Hardened, opts: Parameters<typeof buildHandshake>[0] = {}): Promise<RawClient> {
  const client = await RawClient.connect(h.port);
  client.write(buildHandshake(opts));
  return client;
}

describe.each(LISTENING)('with an error listener on the connection: %s', (listening) => {
  describe('request pending (not yet accepted)', () => {
    test.each(FAULTS)('%s, then the application accepts: close 1006 once, nothing thrown', async (fault) => {
      const held: WebSocketRequest[] = [];
      const h = await startHardenedServer({}, { errorListener: listening, handler: (request) => held.push(request) });
      const client = await sendHandshake(h);
      await until(() => held.length === 1, 'the request');
      expect(h.ws.pendingRequests).toHaveLength(1);
      inflict(client, fault);
      if (fault === 'reset') {
        // The socket is gone: the request leaves pendingRequests without the application's help.
        await until(() => h.ws.pendingRequests.length === 0, 'the reset request to leave pendingRequests');
      } else {
        // Only a FIN: the socket is half-open and the request stays pending until it is resolved.
        await until(() => held[0]!._socketIsClosing, 'the server to see the FIN');
        expect(h.ws.pendingRequests).toHaveLength(1);
      }
      const connection = held[0]!.accept(null, held[0]!.origin);
      expect(h.ws.pendingRequests).toHaveLength(0);
      await until(() => connection.state === 'closed' && h.ws.connections.length === 0, 'the lost connection to close');
      expect(onlyClose(h, connection)).toEqual([1006, 'TCP connection lost before handshake completed.']);
      expect(connection.socket.destroyed).toBe(true);
      expectErrors(h, connection, listening);
      await expectSettled(h);
      await expectServing(h);
    });

    test.each(FAULTS)('%s, then the application rejects: no throw, no connection', async (fault) => {
      const held: WebSocketRequest[] = [];
      const h = await startHardenedServer({}, { errorListener: listening, handler: (request) => held.push(request) });
      const client = await sendHandshake(h);
      await until(() => held.length === 1, 'the request');
      inflict(client, fault);
      await until(() => held[0]!._socketIsClosing || held[0]!.socket.destroyed, 'the server to see the fault');
      expect(() => held[0]!.reject(403, 'late')).not.toThrow();
      await until(() => held[0]!.socket.destroyed, 'the rejected socket to close');
      expect(h.accepted).toHaveLength(0);
      await expectSettled(h);
      await expectServing(h);
    });
  });

  describe('around the 101 write', () => {
    test.each(FAULTS)('%s just before accept() (the server has not read it yet): close once', async (fault) => {
      let connection: WebSocketConnection | null = null;
      let client: RawClient | null = null;
      const h = await startHardenedServer(
        {},
        {
          errorListener: listening,
          handler: (_request, accept) => {
            inflict(client!, fault);
            connection = accept();
          },
        },
      );
      client = await sendHandshake(h);
      await until(() => connection !== null, 'accept()');
      await until(() => h.ws.connections.length === 0, 'the connection to close');
      const [code] = onlyClose(h, connection!);
      expect(code).toBe(1006);
      expectErrors(h, connection!, listening);
      await expectSettled(h);
      await expectServing(h);
    });

    test.each(FAULTS)('%s right after accept() returned (101 write in flight): close once', async (fault) => {
      let connection: WebSocketConnection | null = null;
      let client: RawClient | null = null;
      const h = await startHardenedServer(
        {},
        {
          errorListener: listening,
          handler: (_request, accept) => {
            connection = accept();
            inflict(client!, fault);
          },
        },
      );
      client = await sendHandshake(h);
      await until(() => connection !== null, 'accept()');
      await until(() => h.ws.connections.length === 0, 'the connection to close');
      const [code] = onlyClose(h, connection!);
      expect(code).toBe(1006);
      expectErrors(h, connection!, listening);
      await expectSettled(h);
      await expectServing(h);
    });

    test('the server socket fails with EPIPE while the 101 is being written: close once', async () => {
      let connection: WebSocketConnection | null = null;
      const h = await startHardenedServer(
        {},
        {
          errorListener: listening,
          handler: (request, accept) => {
            connection = accept();
            const error = Object.assign(new Error('write EPIPE'), { code: 'EPIPE', syscall: 'write', errno: -32 });
            request.socket.destroy(error);
          },
        },
      );
      await sendHandshake(h);
      await until(() => connection !== null, 'accept()');
      await until(() => h.ws.connections.length === 0, 'the connection to close');
      const [code] = onlyClose(h, connection!);
      expect(code).toBe(1006);
      expectErrors(h, connection!, listening);
      await expectSettled(h);
      await expectServing(h);
    });
  });

  describe('open connection', () => {
    test.each(FAULTS)('%s mid-frame (header and half the payload read): close 1006 once, no message', async (fault) => {
      const h = await startHardenedServer({}, { errorListener: listening });
      const { client, connection } = await openRawConnection(h);
      const whole = f.text('x'.repeat(1000));
      const read = connection.socket.bytesRead;
      client.write(whole.subarray(0, 500));
      await serverHasRead(connection, read + 500);
      inflict(client, fault);
      await until(() => h.ws.connections.length === 0, 'the connection to close');
      expect(onlyClose(h, connection)[0]).toBe(1006);
      expect(h.messages.get(connection)).toBe(0);
      expectErrors(h, connection, listening, fault === 'reset' ? 1 : 0);
      await expectSettled(h);
      await expectServing(h);
    });

    test.each(FAULTS)('%s right after writing half a frame (bytes and fault in flight together): close 1006 once, no message', async (fault) => {
      const h = await startHardenedServer({}, { errorListener: listening });
      const { client, connection } = await openRawConnection(h);
      client.write(f.binary(Buffer.alloc(4000, 7)).subarray(0, 2000));
      inflict(client, fault);
      await until(() => h.ws.connections.length === 0, 'the connection to close');
      expect(onlyClose(h, connection)[0]).toBe(1006);
      expect(h.messages.get(connection)).toBe(0);
      expectErrors(h, connection, listening);
      await expectSettled(h);
      await expectServing(h);
    });

    test.each(FAULTS)('%s mid-fragmented message (2 of n fragments read): close 1006 once, no message', async (fault) => {
      const h = await startHardenedServer({}, { errorListener: listening });
      const { client, connection } = await openRawConnection(h);
      const bytes = Buffer.concat([f.text('first ', { fin: false }), f.cont('second ', { fin: false })]);
      const read = connection.socket.bytesRead;
      client.write(bytes);
      await serverHasRead(connection, read + bytes.length);
      inflict(client, fault);
      await until(() => h.ws.connections.length === 0, 'the connection to close');
      expect(onlyClose(h, connection)[0]).toBe(1006);
      expect(h.messages.get(connection)).toBe(0);
      expectErrors(h, connection, listening, fault === 'reset' ? 1 : 0);
      await expectSettled(h);
      await expectServing(h);
    });

    test.each(FAULTS)('%s during the closing handshake (server close() sent, no reply yet): close once, close timer freed', async (fault) => {
      const h = await startHardenedServer({ closeTimeout: 5000 }, { errorListener: listening });
      // allowHalfOpen: the client does not answer the server's FIN by itself.
      const { client, connection } = await openRawConnection(h, {}, { allowHalfOpen: true });
      connection.close(1000, 'going');
      const closeFrame = await client.readFrame();
      expect(closeFrame.opcode).toBe(f.OP.CLOSE);
      await client.waitForEnd();
      expect(connection.closeTimer).not.toBeNull();
      inflict(client, fault);
      await until(() => h.ws.connections.length === 0, 'the connection to close');
      const [code, description] = onlyClose(h, connection);
      if (fault === 'reset') {
        expect(code).toBe(1006);
        expect(description).toMatch(/^Socket Error: read E(CONNRESET|PIPE)$/);
      } else {
        // Both sides sent FIN: the close we started stands.
        expect([code, description]).toEqual([1000, 'going']);
      }
      expect(connection.closeTimer).toBeNull();
      expectErrors(h, connection, listening, fault === 'reset' ? 1 : 0);
      await expectSettled(h);
      await expectServing(h);
    });
  });

  describe('compressed messages (permessage-deflate)', () => {
    const offer = { headers: [['Sec-WebSocket-Extensions', 'permessage-deflate']] as Array<[string, string]> };

    async function openDeflate(h: Hardened): Promise<{ client: RawClient; connection: WebSocketConnection }> {
      const { client, connection, response } = await openRawConnection(h, offer);
      expect(response).toMatch(/\r\nSec-WebSocket-Extensions: permessage-deflate\r\n/i);
      return { client, connection };
    }

    test.each(FAULTS)('%s mid-payload of a compressed frame: close 1006 once, no message', async (fault) => {
      const h = await startHardenedServer({ perMessageDeflate: true }, { errorListener: listening });
      const { client, connection } = await openDeflate(h);
      const compressed = deflateMessage(noise(60000));
      const frame = f.binary(compressed, { rsv1: true });
      const read = connection.socket.bytesRead;
      client.write(frame.subarray(0, frame.length >> 1));
      await serverHasRead(connection, read + (frame.length >> 1));
      inflict(client, fault);
      await until(() => h.ws.connections.length === 0, 'the connection to close');
      expect(onlyClose(h, connection)[0]).toBe(1006);
      expect(h.messages.get(connection)).toBe(0);
      expectErrors(h, connection, listening, fault === 'reset' ? 1 : 0);
      await expectSettled(h);
      await expectServing(h);
    });

    test.each(FAULTS)('%s while the server inflates a whole compressed message: close once', async (fault) => {
      const h = await startHardenedServer({ perMessageDeflate: true }, { errorListener: listening });
      const { client, connection } = await openDeflate(h);
      // 900 KB of text inflating from a few KB: the inflation outlives the reset.
      const frame = f.text(deflateMessage(Buffer.alloc(900 * 1024, 'abcdefgh')), { rsv1: true });
      client.write(frame);
      inflict(client, fault);
      await until(() => h.ws.connections.length === 0, 'the connection to close');
      const [code] = onlyClose(h, connection);
      expect([1000, 1006]).toContain(code);
      expectErrors(h, connection, listening);
      await expectSettled(h);
      await expectServing(h);
    });

    test('50 peers reset during inflation: the zlib limiter gives every slot back (a compressed echo still works)', async () => {
      const h = await startHardenedServer({ perMessageDeflate: { concurrencyLimit: 2 } }, { errorListener: listening });
      const frame = f.text(deflateMessage(Buffer.alloc(900 * 1024, 'abcdefgh')), { rsv1: true });
      for (let i = 0; i < 50; i++) {
        const { client } = await openDeflate(h);
        client.write(frame);
        client.socket.resetAndDestroy();
      }
      await expectSettled(h, 5000);
      // A compressed round trip needs a limiter slot on each side of the server.
      const { client, connection } = await openDeflate(h);
      const payload = Buffer.alloc(4096, 'compress me ');
      client.write(f.binary(deflateMessage(payload), { rsv1: true }));
      const echo = await client.readFrame(3000);
      expect(echo.rsv1).toBe(true);
      expect(h.messages.get(connection)).toBe(1);
      client.write(f.close(1000));
      await client.waitForClose();
      await expectSettled(h);
      await expectServing(h);
    });
  });
});

describe('writing to a peer that has gone (EPIPE)', () => {
  test.each(LISTENING)(
    'error listener %s: a 4 MiB send after the peer reset: nothing thrown, send callback gets the error once, close 1006 once',
    async (listening) => {
      const h = await startHardenedServer({}, { errorListener: listening });
      const { client, connection } = await openRawConnection(h);
      client.socket.resetAndDestroy();
      // Let the kernel take the reset before the event loop could read it, so the write meets it first.
      blockFor(20);
      const callbacks: Array<Error | undefined> = [];
      connection.sendBytes(Buffer.alloc(4 * MiB, 1), (error) => callbacks.push(error ?? undefined));
      await until(() => h.ws.connections.length === 0, 'the connection to close');
      await until(() => callbacks.length > 0, 'the send callback');
      expect(callbacks).toHaveLength(1);
      expect(isError(callbacks[0])).toBe(true);
      const [code, description] = onlyClose(h, connection);
      expect(code).toBe(1006);
      expect(description).toMatch(/^Socket Error: (write|read) E(PIPE|CONNRESET)$/);
      if (listening) {
        expect(h.errors.get(connection)).toHaveLength(1);
        expect(['EPIPE', 'ECONNRESET']).toContain((h.errors.get(connection)![0] as NodeJS.ErrnoException).code);
      }
      await expectSettled(h);
      await expectServing(h);
    },
  );

  test.each(LISTENING)('error listener %s: 8 MiB sent to a peer that closed (FIN, then RST on our data): close once', async (listening) => {
    const h = await startHardenedServer({}, { errorListener: listening });
    const { client, connection } = await openRawConnection(h);
    client.destroy();
    const callbacks: Array<Error | undefined> = [];
    for (let i = 0; i < 8; i++) connection.sendBytes(Buffer.alloc(MiB, i), (error) => callbacks.push(error ?? undefined));
    await until(() => h.ws.connections.length === 0, 'the connection to close', 3000);
    await until(() => callbacks.length === 8, 'every send callback', 3000);
    expect(onlyClose(h, connection)[0]).toBe(1006);
    expectErrors(h, connection, listening);
    await expectSettled(h);
    await expectServing(h);
  });

  test('sends after close() never throw and call back with an error', async () => {
    const h = await startHardenedServer({}, { errorListener: false });
    const { client, connection } = await openRawConnection(h);
    client.socket.resetAndDestroy();
    await until(() => h.ws.connections.length === 0, 'the connection to close');
    const callbacks: Array<Error | undefined> = [];
    expect(() => {
      connection.sendUTF('late', (error) => callbacks.push(error ?? undefined));
      connection.sendBytes(Buffer.alloc(100), (error) => callbacks.push(error ?? undefined));
      connection.ping('p', (error) => callbacks.push(error ?? undefined));
      connection.close();
      connection.drop();
    }).not.toThrow();
    await until(() => callbacks.length === 3, 'the three callbacks');
    for (const error of callbacks) expect(isError(error)).toBe(true);
    await expectSettled(h);
    await expectServing(h);
  });

  describe('send callbacks of compressed messages when the peer goes away', () => {
    // 8 MiB of incompressible bytes at level 9 keep zlib busy far longer than the reset takes to arrive.
    const slow = noise(8 * MiB);

    test('peer resets while a message is being compressed: its callback and the one queued behind it are each called once, with an error', async () => {
      const h = await startHardenedServer({ perMessageDeflate: { level: 9 } }, { errorListener: false });
      const { client, connection } = await openRawConnection(h, {
        headers: [['Sec-WebSocket-Extensions', 'permessage-deflate']],
      });
      const callbacks: Array<[string, boolean]> = [];
      connection.sendBytes(slow, (error) => callbacks.push(['being compressed', isError(error)]));
      connection.sendUTF('z'.repeat(64 * 1024), (error) => callbacks.push(['queued behind it', isError(error)]));
      client.socket.resetAndDestroy();
      await until(() => h.ws.connections.length === 0, 'the connection to close');
      await until(() => callbacks.length >= 2, 'both send callbacks', 2000).catch(() => undefined);
      expect(callbacks.sort()).toEqual([
        ['being compressed', true],
        ['queued behind it', true],
      ]);
      await expectSettled(h);
      await expectServing(h);
    });

    test('the application drops the connection while a message waits for a zlib slot: its callback is called once, with an error', async () => {
      // concurrencyLimit 1: the second connection's message waits in the shared limiter behind the first's.
      const h = await startHardenedServer({ perMessageDeflate: { level: 9, concurrencyLimit: 1 } }, { errorListener: false });
      const offer = { headers: [['Sec-WebSocket-Extensions', 'permessage-deflate']] as Array<[string, string]> };
      const busy = await openRawConnection(h, offer);
      const waiting = await openRawConnection(h, offer);
      busy.client.discard = true;
      const callbacks: Array<[string, boolean]> = [];
      busy.connection.sendBytes(slow, (error) => callbacks.push(['busy', isError(error)]));
      waiting.connection.sendUTF('w'.repeat(64 * 1024), (error) => callbacks.push(['waiting for a slot', isError(error)]));
      waiting.connection.drop(1001, 'going away');
      await until(() => callbacks.some(([name]) => name === 'busy'), 'the busy connection to send', 5000);
      await until(() => callbacks.length >= 2, 'the waiting callback', 1000).catch(() => undefined);
      expect(callbacks.sort()).toEqual([
        ['busy', false],
        ['waiting for a slot', true],
      ]);
      busy.client.write(f.close(1000));
      await busy.client.waitForClose(3000);
      await expectSettled(h);
      await expectServing(h);
    });
  });
});
