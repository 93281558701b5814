import * as path from 'node:path';
/**
 * Closing, liveness and failure of server connections over real sockets: state strings, close()
 * and drop() on the wire, closeTimeout, ping/pong, keepalive, and socket resets.
 *
 * Deliberate differences from WebSocket-Node 1.0.35 exercised here: closeTimeout destroys the socket
 * (so 'close' fires with our code even when the peer stays silent); drop() with a close frame
 * half-closes and destroys after closeTimeout instead of at once; sending after close() hands the
 * callback an Error and leaves the close outcome alone; ping/pong payloads are cut at 125 bytes.
 */
import { cleanup, delay, nextEvent, record, startServer, until, wsClient, type ServerConfig } from '../helpers/server';
import { openRawConnection } from '../helpers/raw-client';
import * as f from '../helpers/frames';

afterEach(cleanup);

async function rawConnection(config: Partial<ServerConfig> = {}, options: { allowHalfOpen?: boolean } = {}) {
  const server = await startServer({ autoAcceptConnections: true, ...config });
  const opened = await openRawConnection(server, {}, options);
  return { server, ...opened };
}

const NORMAL = 'Normal connection closure';

describe('state over the lifecycle', () => {
  test('server close(): open → ending → closed, reporting our own code whatever the peer answers', async () => {
    const { server, client, connection } = await rawConnection({}, { allowHalfOpen: true });
    expect([connection.state, connection.connected, connection.closeReasonCode, connection.closeDescription]).toEqual(['open', true, -1, null]);
    const closes = record(connection, 'close');
    const serverCloses = record(server.ws, 'close');
    connection.close();
    expect(connection.state).toBe('ending');
    expect(connection.connected).toBe(false);
    expect(connection.waitingForCloseResponse).toBe(true);
    const frame = await client.readFrame();
    expect(f.hex(frame.raw)).toBe(f.hex(f.serverClose(1000, NORMAL)));
    expect(f.hex(frame.raw.subarray(0, 4))).toBe('88 1b 03 e8');
    await client.waitForEnd();
    expect(closes).toEqual([]);
    client.write(f.close(4000, 'other'));
    client.socket.end();
    await until(() => closes.length > 0, 'close');
    expect(closes).toEqual([[1000, NORMAL]]);
    expect(serverCloses).toEqual([[connection, 1000, NORMAL]]);
    expect(connection.state).toBe('closed');
    expect(server.ws.connections).toEqual([]);
  });

  test('peer close: open → peer_requested_close → closed', async () => {
    const { client, connection } = await rawConnection();
    const closes = record(connection, 'close');
    const states: string[] = [];
    client.socket.on('data', () => states.push(connection.state));
    client.write(f.close(1001, 'going'));
    expect(f.hex((await client.readFrame()).raw)).toBe('88 02 03 e8');
    expect(states[0]).toBe('peer_requested_close');
    expect(connection.connected).toBe(false);
    await until(() => closes.length > 0, 'close');
    expect(connection.state).toBe('closed');
    expect(closes).toEqual([[1001, 'going']]);
  });

  test('a second close() does nothing', async () => {
    const { client, connection } = await rawConnection();
    connection.close(4000, 'first');
    connection.close(4001, 'second');
    const frame = await client.readFrame();
    expect(f.hex(frame.raw)).toBe(f.hex(f.serverClose(4000, 'first')));
    await client.waitForClose();
    expect(client.unread.length).toBe(0);
  });
});

describe('close()', () => {
  test.each<[string, number | undefined, string | undefined, Buffer, [number, string | undefined]]>([
    ['default', undefined, undefined, f.serverClose(1000, NORMAL), [1000, NORMAL]],
    ['3000 (no table text)', 3000, undefined, Buffer.from([0x88, 0x02, 0x0b, 0xb8]), [3000, undefined]],
    ['4000 with text', 4000, 'custom', f.serverClose(4000, 'custom'), [4000, 'custom']],
    ["1001 with ''", 1001, '', Buffer.from([0x88, 0x02, 0x03, 0xe9]), [1001, '']],
    ['1011 default text', 1011, undefined, f.serverClose(1011, 'Internal Server Error'), [1011, 'Internal Server Error']],
  ])('%s', async (_label, code, description, wire, event) => {
    const { client, connection } = await rawConnection();
    const closes = record(connection, 'close');
    if (code === undefined) connection.close();
    else connection.close(code, description);
    const frame = await client.readFrame();
    expect(f.hex(frame.raw)).toBe(f.hex(wire));
    await until(() => closes.length > 0, 'close');
    expect(closes).toEqual([event]);
  });

  test('a reason longer than 123 bytes is cut so the close frame stays legal', async () => {
    const { client, connection } = await rawConnection();
    connection.close(1000, 'x'.repeat(200));
    const frame = await client.readFrame();
    expect(frame.payload.length).toBeLessThanOrEqual(125);
    expect(frame.payload.readUInt16BE(0)).toBe(1000);
  });

  test.each([1005, 1006, 1004, 999, 2000, 5000])('close(%i) throws and leaves the connection open', async (code) => {
    const { client, connection } = await rawConnection();
    expect(() => connection.close(code)).toThrow(`Close code ${code} is not valid.`);
    expect(connection.state).toBe('open');
    expect(connection.connected).toBe(true);
    const message = nextEvent(connection, 'message');
    client.write(f.text('still open'));
    expect(await message).toEqual([{ type: 'utf8', utf8Data: 'still open' }]);
  });

  test('with a ws client: the client sees our code and reason', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const connected = nextEvent<[import('../helpers/server').WebSocketConnection]>(server.ws, 'connect');
    const client = await wsClient(server.url);
    const [connection] = await connected;
    const clientClosed = new Promise<[number, string]>((resolve) => client.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])));
    const closes = record(connection, 'close');
    connection.close(4321, 'bye now');
    expect(await clientClosed).toEqual([4321, 'bye now']);
    await until(() => closes.length > 0, 'close');
    expect(closes).toEqual([[4321, 'bye now']]);
  });

  test('a ws client closing: the server reports its code and reason', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const connected = nextEvent<[import('../helpers/server').WebSocketConnection]>(server.ws, 'connect');
    const client = await wsClient(server.url);
    const [connection] = await connected;
    const closes = record(connection, 'close');
    client.close(4000, 'client leaving');
    await until(() => closes.length > 0, 'close');
    expect(closes).toEqual([[4000, 'client leaving']]);
  });
});

describe('closing from event handlers and while paused', () => {
  test('a message handler that replies and then closes: reply, then close frame; later frames ignored', async () => {
    const { client, connection } = await rawConnection();
    const got: unknown[] = [];
    connection.on('message', (message: unknown) => {
      got.push(message);
      connection.sendUTF('reply');
      connection.close(4000, 'done');
    });
    const closes = record(connection, 'close');
    client.write(Buffer.concat([f.text('q'), f.text('ignored')]));
    expect(f.hex((await client.readFrame()).raw)).toBe('81 05 72 65 70 6c 79');
    expect(f.hex((await client.readFrame()).raw)).toBe(f.hex(f.serverClose(4000, 'done')));
    await until(() => closes.length > 0, 'close');
    expect(got).toEqual([{ type: 'utf8', utf8Data: 'q' }]);
    expect(closes).toEqual([[4000, 'done']]);
  });

  test('a message handler that drops: one close, later frames ignored, removed from the server', async () => {
    const { server, client, connection } = await rawConnection();
    const got: unknown[] = [];
    connection.on('message', (message: unknown) => {
      got.push(message);
      connection.drop(1008, 'nope');
    });
    const closes = record(connection, 'close');
    client.write(Buffer.concat([f.text('a'), f.text('b'), f.ping('c')]));
    expect(f.hex((await client.readFrame()).raw)).toBe(f.hex(f.serverClose(1008, 'nope')));
    await client.waitForClose();
    expect(got).toEqual([{ type: 'utf8', utf8Data: 'a' }]);
    expect(closes).toEqual([[1008, 'nope']]);
    expect(client.unread.length).toBe(0);
    expect(server.ws.connections).toEqual([]);
  });

  test("sending from the 'close' handler does not throw; the callback gets an Error", async () => {
    const { client, connection } = await rawConnection();
    const results: unknown[] = [];
    connection.on('close', () => {
      connection.sendUTF('too late', (error?: Error) => results.push(error));
    });
    client.write(f.close(1000));
    await until(() => results.length > 0, 'the callback');
    expect(results[0]).toBeInstanceOf(Error);
  });

  test('a close frame and a ping received while paused are handled on resume()', async () => {
    const { client, connection } = await rawConnection({}, { allowHalfOpen: true });
    const closes = record(connection, 'close');
    connection.pause();
    client.write(Buffer.concat([f.ping('z'), f.close(1000, 'paused')]));
    await delay(60);
    expect(client.unread.length).toBe(0);
    expect(connection.state).toBe('open');
    connection.resume();
    expect(f.hex((await client.readFrame()).raw)).toBe('8a 01 7a');
    expect(f.hex((await client.readFrame()).raw)).toBe('88 02 03 e8');
    client.socket.end();
    await until(() => closes.length > 0, 'close');
    expect(closes).toEqual([[1000, 'paused']]);
  });

  test("an exception thrown by a 'message' listener surfaces as uncaught (as upstream) and its text never reaches the peer", async () => {
    // Run in a child process: the exception must escape like an application bug does with
    // WebSocket-Node and ws, which would end the jest worker.
    const script = `
      const http = require('http');
      const net = require('net');
      const websocket = require(${JSON.stringify(path.resolve(__dirname, '../../lib/websocket.js'))});
      const server = http.createServer();
      const wss = new websocket.server({ httpServer: server, keepalive: false });
      wss.on('request', (r) => r.accept().on('message', () => { throw new Error('secret-internal-detail'); }));
      server.listen(0, '127.0.0.1', () => {
        const socket = net.connect(server.address().port, '127.0.0.1');
        let received = Buffer.alloc(0);
        socket.on('data', (d) => { received = Buffer.concat([received, d]); });
        process.on('uncaughtException', (error) => {
          setTimeout(() => {
            console.log(JSON.stringify({ error: error.message, peer: received.toString('latin1') }));
            process.exit(0);
          }, 100);
        });
        socket.write('GET / HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n');
        setTimeout(() => socket.write(Buffer.from([0x81, 0x81, 0, 0, 0, 0, 0x41])), 100);
      });`;
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    // Uses the compiled library (npm test builds before running jest).
    const out = execFileSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      timeout: 10000,
    });
    const result = JSON.parse(out.trim().split('\n').pop() as string) as { error: string; peer: string };
    expect(result.error).toBe('secret-internal-detail');
    expect(result.peer).not.toContain('secret-internal-detail');
    // The connection failed with 1011 and only the generic table text.
    const closeFrame = Buffer.concat([Buffer.from([0x88, 0x17, 0x03, 0xf3]), Buffer.from('Internal Server Error')]);
    expect(Buffer.from(result.peer, 'latin1').toString('hex')).toContain(closeFrame.toString('hex'));
  });
});

describe('closeTimeout', () => {
  test('a silent peer: close fires with our code after about closeTimeout and the socket is destroyed', async () => {
    const { client, connection } = await rawConnection({ closeTimeout: 300 }, { allowHalfOpen: true });
    const closes = record(connection, 'close');
    const start = Date.now();
    connection.close(4000, 'timeout test');
    expect(f.hex((await client.readFrame()).raw)).toBe(f.hex(f.serverClose(4000, 'timeout test')));
    await client.waitForEnd();
    await until(() => closes.length > 0, 'close', 3000);
    const elapsed = Date.now() - start;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1500);
    expect(closes).toEqual([[4000, 'timeout test']]);
    expect(connection.socket.destroyed).toBe(true);
    expect(connection.state).toBe('closed');
  });

  test('send after close(): callback gets an Error, the close outcome is unchanged, no error event', async () => {
    const { client, connection } = await rawConnection();
    const closes = record(connection, 'close');
    const errors = record(connection, 'error');
    connection.close();
    const results: unknown[] = [];
    connection.sendUTF('late', (error?: Error) => results.push(error));
    connection.sendBytes(Buffer.from('late'), (error?: Error) => results.push(error));
    await until(() => results.length === 2, 'both callbacks');
    expect(results[0]).toBeInstanceOf(Error);
    expect(results[1]).toBeInstanceOf(Error);
    await until(() => closes.length > 0, 'close');
    expect(closes).toEqual([[1000, NORMAL]]);
    expect(errors).toEqual([]);
    const frame = await client.readFrame();
    expect(frame.opcode).toBe(8);
    await client.waitForClose();
    expect(client.unread.length).toBe(0);
  });
});

describe('drop()', () => {
  test("defaults: close(1002, 'Protocol error') emitted synchronously, close frame on the wire", async () => {
    const { server, client, connection } = await rawConnection();
    const closes = record(connection, 'close');
    const serverCloses = record(server.ws, 'close');
    connection.drop();
    expect(closes).toEqual([[1002, 'Protocol error']]);
    expect(serverCloses).toEqual([[connection, 1002, 'Protocol error']]);
    expect(connection.state).toBe('closed');
    expect(connection.connected).toBe(false);
    expect(server.ws.connections).toEqual([]);
    const frame = await client.readFrame();
    expect(f.hex(frame.raw)).toBe(f.hex(f.serverClose(1002, 'Protocol error')));
    await client.waitForClose();
    expect(closes).toHaveLength(1);
  });

  test('skipCloseFrame writes nothing and destroys the socket', async () => {
    const { client, connection } = await rawConnection();
    const closes = record(connection, 'close');
    connection.drop(1006, 'gone', true);
    expect(closes).toEqual([[1006, 'gone']]);
    await client.waitForClose();
    expect(client.unread.length).toBe(0);
  });

  test('with a close frame: half-close at once, destroy after closeTimeout if the peer stays', async () => {
    const { client, connection } = await rawConnection({ closeTimeout: 300 }, { allowHalfOpen: true });
    // The peer has already seen our FIN, so it cannot see the destroy; watch the server's socket.
    let destroyedAt = 0;
    connection.socket.once('close', () => {
      destroyedAt = Date.now();
    });
    const start = Date.now();
    connection.drop(1008, 'policy');
    expect(connection.socket.destroyed).toBe(false);
    const frame = await client.readFrame();
    expect(f.hex(frame.raw)).toBe(f.hex(f.serverClose(1008, 'policy')));
    await client.waitForEnd();
    expect(Date.now() - start).toBeLessThan(200);
    await until(() => destroyedAt > 0, 'the server socket to be destroyed', 3000);
    const elapsed = destroyedAt - start;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1500);
  });

  test('with a close frame and a peer that hangs up: the socket closes promptly', async () => {
    const { client, connection } = await rawConnection({ closeTimeout: 5000 });
    const start = Date.now();
    connection.drop(1011);
    expect(f.hex((await client.readFrame()).raw)).toBe(f.hex(f.serverClose(1011, 'Internal Server Error')));
    await client.waitForClose();
    expect(Date.now() - start).toBeLessThan(1000);
  });
});

describe('ping and pong', () => {
  test('without ping listeners the server answers with a pong of the same payload', async () => {
    const { client } = await rawConnection();
    client.write(f.ping('abc'));
    expect(f.hex((await client.readFrame()).raw)).toBe('8a 03 61 62 63');
  });

  test('a 125-byte ping gets a 125-byte pong', async () => {
    const { client } = await rawConnection();
    const payload = Buffer.alloc(125, 0x41);
    client.write(f.ping(payload));
    const pong = await client.readFrame();
    expect(f.hex(pong.raw.subarray(0, 2))).toBe('8a 7d');
    expect(pong.payload.equals(payload)).toBe(true);
  });

  test("a 'ping' listener gets (cancel, payload); calling cancel() suppresses the pong", async () => {
    const { client, connection } = await rawConnection();
    const pings: Array<[unknown, Buffer]> = [];
    connection.on('ping', (cancel: () => void, payload: Buffer) => {
      pings.push([cancel, payload]);
      cancel();
    });
    client.write(f.ping('abc'));
    await until(() => pings.length === 1, 'ping');
    expect(typeof pings[0]![0]).toBe('function');
    expect(pings[0]![1]).toEqual(Buffer.from('abc'));
    connection.sendUTF('after');
    expect(f.hex((await client.readFrame()).raw)).toBe('81 05 61 66 74 65 72');
  });

  test("a 'ping' listener that does not cancel leaves the automatic pong", async () => {
    const { client, connection } = await rawConnection();
    const pings = record(connection, 'ping');
    client.write(f.ping('xy'));
    expect(f.hex((await client.readFrame()).raw)).toBe('8a 02 78 79');
    expect(pings).toHaveLength(1);
  });

  test("'pong' event with the payload", async () => {
    const { client, connection } = await rawConnection();
    const pong = nextEvent(connection, 'pong');
    client.write(f.pong('xyz'));
    expect(await pong).toEqual([Buffer.from('xyz')]);
  });

  test('server ping()/pong() on the wire; payloads cut at 125 bytes', async () => {
    const { client, connection } = await rawConnection();
    connection.ping();
    connection.ping('hello');
    connection.ping(Buffer.alloc(200, 1));
    connection.pong(Buffer.alloc(200, 2));
    expect(f.hex((await client.readFrame()).raw)).toBe('89 00');
    expect(f.hex((await client.readFrame()).raw)).toBe('89 05 68 65 6c 6c 6f');
    const longPing = await client.readFrame();
    expect(f.hex(longPing.raw.subarray(0, 2))).toBe('89 7d');
    expect(longPing.payload.equals(Buffer.alloc(125, 1))).toBe(true);
    const longPong = await client.readFrame();
    expect(f.hex(longPong.raw.subarray(0, 2))).toBe('8a 7d');
    expect(longPong.payload.equals(Buffer.alloc(125, 2))).toBe(true);
  });

  test('ws client ping gets a pong; server ping reaches ws and its pong comes back', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const connected = nextEvent<[import('../helpers/server').WebSocketConnection]>(server.ws, 'connect');
    const client = await wsClient(server.url);
    const [connection] = await connected;
    const clientPong = new Promise<Buffer>((resolve) => client.once('pong', resolve));
    client.ping('c2s');
    expect((await clientPong).toString()).toBe('c2s');
    const serverPong = nextEvent(connection, 'pong');
    connection.ping('s2c');
    expect(await serverPong).toEqual([Buffer.from('s2c')]);
  });
});

describe('keepalive', () => {
  test("ping after keepaliveInterval, then drop(1006, 'Peer not responding.') after the grace period", async () => {
    const { server, client, connection } = await rawConnection({
      keepalive: true,
      keepaliveInterval: 200,
      keepaliveGracePeriod: 200,
      dropConnectionOnKeepaliveTimeout: true,
    });
    const start = Date.now();
    const closes = record(connection, 'close');
    const serverCloses = record(server.ws, 'close');
    const ping = await client.readFrame();
    const pingAt = Date.now() - start;
    expect(f.hex(ping.raw)).toBe('89 00');
    expect(pingAt).toBeGreaterThanOrEqual(150);
    await until(() => closes.length > 0, 'close');
    const closeAt = Date.now() - start;
    expect(closes).toEqual([[1006, 'Peer not responding.']]);
    expect(serverCloses).toEqual([[connection, 1006, 'Peer not responding.']]);
    expect(closeAt).toBeGreaterThanOrEqual(350);
    expect(closeAt).toBeLessThan(1500);
    await client.waitForClose();
    // No close frame: the socket is simply destroyed.
    expect(client.unread.length).toBe(0);
  });

  test('a peer that answers the pings stays connected', async () => {
    const { client, connection } = await rawConnection({ keepalive: true, keepaliveInterval: 100, keepaliveGracePeriod: 300 });
    const closes = record(connection, 'close');
    let pings = 0;
    client.socket.on('data', () => {
      // Every server frame in this test is an empty ping; answer each.
      while (client.unread.length >= 2) {
        client.takeUnread();
        pings++;
        client.write(f.pong());
      }
    });
    await delay(550);
    expect(pings).toBeGreaterThanOrEqual(2);
    expect(closes).toEqual([]);
    expect(connection.connected).toBe(true);
  });

  test('dropConnectionOnKeepaliveTimeout false: keeps pinging, never drops', async () => {
    const { client, connection } = await rawConnection({
      keepalive: true,
      keepaliveInterval: 100,
      dropConnectionOnKeepaliveTimeout: false,
    });
    const closes = record(connection, 'close');
    await delay(450);
    expect(f.hex(client.takeUnread())).toMatch(/^89 00 89 00 89 00/);
    expect(closes).toEqual([]);
  });

  test('any received data restarts the keepalive timer', async () => {
    const { client, connection } = await rawConnection({ keepalive: true, keepaliveInterval: 250, keepaliveGracePeriod: 100 });
    const closes = record(connection, 'close');
    // 8 × 60 ms: without the restart a ping would be due at 250 ms.
    for (let i = 0; i < 8; i++) {
      await delay(60);
      client.write(f.text('tick'));
    }
    expect(client.unread.length).toBe(0);
    expect(closes).toEqual([]);
  });
});

describe('socket failures', () => {
  test('a reset mid-frame: one close (1006), no crash, removed from server.connections', async () => {
    const { server, client, connection } = await rawConnection();
    const closes = record(connection, 'close');
    const serverCloses = record(server.ws, 'close');
    const half = f.binary(Buffer.alloc(1000, 1));
    client.write(half.subarray(0, 500));
    await delay(20);
    client.socket.resetAndDestroy();
    await until(() => closes.length > 0, 'close');
    await delay(50);
    expect(closes).toHaveLength(1);
    expect(closes[0]![0]).toBe(1006);
    expect(serverCloses).toHaveLength(1);
    expect(server.ws.connections).toEqual([]);
    expect(connection.state).toBe('closed');
  });

  test('a reset while the server is closing: one close with our code', async () => {
    const { server, client, connection } = await rawConnection({}, { allowHalfOpen: true });
    const closes = record(connection, 'close');
    connection.close(4000, 'closing');
    await client.readFrame();
    client.socket.resetAndDestroy();
    await until(() => closes.length > 0, 'close');
    await delay(50);
    expect(closes).toHaveLength(1);
    expect(server.ws.connections).toEqual([]);
  });

  test('a reset with an error listener attached: close still fires exactly once', async () => {
    const { server, client, connection } = await rawConnection();
    const closes = record(connection, 'close');
    const errors = record(connection, 'error');
    client.write(f.text('x', { lengthOverride: 100 }));
    await delay(20);
    client.socket.resetAndDestroy();
    await until(() => closes.length > 0, 'close');
    await delay(50);
    expect(closes).toHaveLength(1);
    expect(closes[0]![0]).toBe(1006);
    expect(errors.length).toBeLessThanOrEqual(1);
    expect(server.ws.connections).toEqual([]);
  });

  test('a plain FIN without a close frame: 1006 Connection dropped by remote peer.', async () => {
    const { server, client, connection } = await rawConnection();
    const closes = record(connection, 'close');
    client.socket.end();
    await until(() => closes.length > 0, 'close');
    expect(closes).toEqual([[1006, 'Connection dropped by remote peer.']]);
    expect(server.ws.connections).toEqual([]);
  });

  test('ws terminate() while the server is sending: one close, no crash', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const connected = nextEvent<[import('../helpers/server').WebSocketConnection]>(server.ws, 'connect');
    const client = await wsClient(server.url);
    const [connection] = await connected;
    const closes = record(connection, 'close');
    const big = Buffer.alloc(256 * 1024);
    for (let i = 0; i < 8; i++) connection.sendBytes(big);
    client.terminate();
    for (let i = 0; i < 8; i++) connection.sendBytes(big);
    await until(() => closes.length > 0, 'close');
    await delay(50);
    expect(closes).toHaveLength(1);
    expect(closes[0]![0]).toBe(1006);
    expect(server.ws.connections).toEqual([]);
  });
});
