/**
 * Upstream v2's promise API (theturtle32/WebSocket-Node #478), over real sockets on 127.0.0.1:
 * `await client.connect()`, `await connection.sendUTF()/sendBytes()/send()` without a callback,
 * `await connection.close()`; callbacks and events unchanged. And the guarantee 1.x code needs: a
 * result nobody awaits never becomes an unhandled rejection, checked in child processes run with
 * `--unhandled-rejections=strict`.
 */
import { spawnSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import websocket = require('../../lib/websocket');
import type { ConnectResult } from '../../lib/promises/results';
import { onCleanup, cleanup, startServer, until, type WebSocketConnection } from '../helpers/server';

/** What connect() returns, as TypeScript code awaits it (the declaration says `void & ConnectResult`, for @types code). */
type Connecting = ConnectResult<WebSocketConnection>;

const WebSocketClient = websocket.client;
const ROOT = path.resolve(__dirname, '../..');

afterEach(cleanup);

/** An echo server of ours and a connected client of ours. */
async function connectedPair(config: Record<string, unknown> = {}): Promise<{ server: WebSocketConnection; client: WebSocketConnection; serverMessages: string[] }> {
  const srv = await startServer({ autoAcceptConnections: true, ...config });
  const serverMessages: string[] = [];
  const accepted = new Promise<WebSocketConnection>((resolve) => srv.ws.once('connect', resolve));
  const client = new WebSocketClient(config);
  const connection = await (client.connect(srv.url) as Connecting);
  onCleanup(() => connection.drop());
  const server = await accepted;
  server.on('message', (m) => serverMessages.push(m.type === 'utf8' ? m.utf8Data : `binary:${m.binaryData.toString('hex')}`));
  return { server, client: connection, serverMessages };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('client.connect() returns an awaitable of the connection', () => {
  test('resolves with the connection the connect event delivers; the event still fires', async () => {
    const srv = await startServer({ autoAcceptConnections: true });
    const client = new WebSocketClient();
    let fromEvent: WebSocketConnection | null = null;
    client.on('connect', (connection) => {
      fromEvent = connection;
    });
    const connection = await (client.connect(srv.url) as Connecting);
    onCleanup(() => connection.drop());
    expect(fromEvent).toBe(connection);
    expect(connection.connected).toBe(true);
  });

  test('rejects with the very Error connectFailed gets (closed port)', async () => {
    const client = new WebSocketClient();
    const viaEvent = new Promise<Error>((resolve) => client.once('connectFailed', resolve));
    const port = await closedPort();
    const result = client.connect(`ws://127.0.0.1:${port}/`) as Connecting;
    const error = await viaEvent;
    expect(error).toMatchObject({ code: 'ECONNREFUSED' });
    await expect(result).rejects.toBe(error);
  });

  test('awaited after the outcome, it still settles with it', async () => {
    const srv = await startServer({ autoAcceptConnections: true });
    const client = new WebSocketClient();
    const result = client.connect(srv.url) as Connecting;
    const viaEvent = await new Promise<WebSocketConnection>((resolve) => client.once('connect', resolve));
    onCleanup(() => viaEvent.drop());
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await result).toBe(viaEvent);
  });

  test('a non-101 answer taken by an httpResponse listener rejects with the status', async () => {
    const srv = await startServer({ autoAcceptConnections: false });
    srv.ws.on('request', (request) => request.reject(403));
    const client = new WebSocketClient();
    const responses: number[] = [];
    client.on('httpResponse', (response) => responses.push(response.statusCode ?? 0));
    await expect(client.connect(srv.url) as Connecting).rejects.toThrow(/non-101 status: 403/);
    expect(responses).toEqual([403]);
  });
});

describe('await client.connect() then connection.messages()', () => {
  test('messages the server sends with its handshake answer are not lost before the await resumes', async () => {
    const srv = await startServer({ autoAcceptConnections: true });
    srv.ws.on('connect', (connection: WebSocketConnection) => {
      for (let i = 0; i < 5; i++) connection.sendUTF(`m${i}`, () => undefined);
      connection.close(1000);
    });
    for (let round = 0; round < 5; round++) {
      const connection = await (new WebSocketClient().connect(srv.url) as Connecting);
      const received: string[] = [];
      for await (const message of connection.messages()) received.push(message.type === 'utf8' ? message.utf8Data : '');
      expect(received).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    }
  });
});

describe('a messages() consumer that falls behind', () => {
  test('keepalive does not drop the connection while reading is stopped for the consumer', async () => {
    const srv = await startServer({
      autoAcceptConnections: true,
      keepalive: true,
      keepaliveInterval: 100,
      dropConnectionOnKeepaliveTimeout: true,
      keepaliveGracePeriod: 100,
    });
    const accepted = new Promise<WebSocketConnection>((resolve) => srv.ws.once('connect', resolve));
    const client = await (new WebSocketClient().connect(srv.url) as Connecting);
    onCleanup(() => client.drop());
    const server = await accepted;
    const iterator = server.messages({ highWaterMark: 2 });
    const closes: number[] = [];
    server.on('close', (code) => closes.push(code));
    for (let i = 0; i < 10; i++) client.sendUTF(`n${i}`, () => undefined);
    // The consumer takes nothing for several keepalive rounds; the client answers no ping it cannot see.
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(closes).toEqual([]);
    const got: string[] = [];
    for (let i = 0; i < 10; i++) {
      const next = await iterator.next();
      if (next.done === true) break;
      got.push(next.value.type === 'utf8' ? next.value.utf8Data : '');
    }
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => `n${i}`));
    expect(server.connected).toBe(true);
    await iterator.return?.();
  });
});

describe('sends without a callback are awaitable; with one, nothing changes', () => {
  test('await sendUTF / sendBytes / send: settled once written, in order, and the peer has them', async () => {
    const { client, serverMessages } = await connectedPair();
    const order: string[] = [];
    const a = client.sendUTF('one').then(() => order.push('one'));
    const b = client.sendBytes(Buffer.from([1, 2])).then(() => order.push('two'));
    const c = client.send('three').then(() => order.push('three'));
    await Promise.all([a, b, c]);
    expect(order).toEqual(['one', 'two', 'three']);
    await until(() => serverMessages.length === 3, 'three messages');
    expect(serverMessages).toEqual(['one', 'binary:0102', 'three']);
  });

  test('with a callback the methods return undefined and call it, as 1.x', async () => {
    const { client } = await connectedPair();
    const calls: unknown[] = [];
    const returned = [
      client.sendUTF('x', (error) => calls.push(error)),
      client.sendBytes(Buffer.from('y'), (error) => calls.push(error)),
      client.send('z', (error) => calls.push(error)),
    ];
    expect(returned).toEqual([undefined, undefined, undefined]);
    await until(() => calls.length === 3, 'the callbacks');
    expect(calls).toEqual([undefined, undefined, undefined]);
  });

  test('a send after close() rejects with the Error a callback would get (ERR_STREAM_WRITE_AFTER_END)', async () => {
    const { client } = await connectedPair();
    client.close();
    await expect(client.sendUTF('late')).rejects.toMatchObject({ code: 'ERR_STREAM_WRITE_AFTER_END' });
    const viaCallback = await new Promise<Error | undefined>((resolve) => client.sendUTF('late', resolve));
    expect(viaCallback).toMatchObject({ code: 'ERR_STREAM_WRITE_AFTER_END' });
  });

  test('sends made while a received batch is dispatched settle together when the batch is written', async () => {
    const { server, client } = await connectedPair();
    const settled: string[] = [];
    server.on('message', (m) => {
      if (m.type !== 'utf8') return;
      void server.sendUTF(`echo ${m.utf8Data}`).then(() => settled.push(m.utf8Data));
    });
    const echoes: string[] = [];
    client.on('message', (m) => echoes.push(m.type === 'utf8' ? m.utf8Data : ''));
    for (const text of ['a', 'b', 'c']) client.sendUTF(text, () => undefined);
    await until(() => echoes.length === 3 && settled.length === 3, 'three echoes, each send settled');
    expect(settled).toEqual(['a', 'b', 'c']);
    expect(echoes).toEqual(['echo a', 'echo b', 'echo c']);
  });

  test('with permessage-deflate, an awaited send settles after its compressed bytes are written', async () => {
    const { client, serverMessages } = await connectedPair({ perMessageDeflate: { threshold: 0 } });
    expect(client.extensions.map((e) => e.name)).toEqual(['permessage-deflate']);
    await client.sendUTF('compressed '.repeat(100));
    await client.sendBytes(Buffer.alloc(5000, 7));
    await until(() => serverMessages.length === 2, 'both messages');
    expect(serverMessages[0]).toBe('compressed '.repeat(100));
  });

  test('an awaited send whose bytes wait in the socket buffer settles only once the peer has read them', async () => {
    const { server, client } = await connectedPair({ maxReceivedFrameSize: 64 * 1024 * 1024, maxReceivedMessageSize: 64 * 1024 * 1024 });
    server.socket.pause();
    void client.sendBytes(Buffer.alloc(16 * 1024 * 1024, 1));
    let settled = false;
    const last = client.sendUTF('after the big one').then(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(client.bytesWaitingToFlush).toBeGreaterThan(0);
    expect(settled).toBe(false);
    server.socket.resume();
    await last;
    expect(settled).toBe(true);
    expect(client.bytesWaitingToFlush).toBe(0);
  });

  test('an awaited send whose bytes never leave (the socket is destroyed first) rejects', async () => {
    const { server, client } = await connectedPair();
    server.socket.pause();
    void client.sendBytes(Buffer.alloc(8 * 1024 * 1024, 1));
    const last = client.sendUTF('never delivered');
    await until(() => client.bytesWaitingToFlush > 0, 'bytes to queue');
    client.socket.destroy();
    await expect(last).rejects.toBeInstanceOf(Error);
  });

  test('a result is a thenable: then/catch/finally, awaited twice, the same outcome', async () => {
    const { client } = await connectedPair();
    const result = client.sendUTF('twice');
    await result;
    await result;
    let finallyRan = false;
    await result.finally(() => {
      finallyRan = true;
    });
    expect(finallyRan).toBe(true);
    client.close();
    const failed = client.sendUTF('after');
    await expect(failed.catch((error: unknown) => (error as { code?: string }).code)).resolves.toBe('ERR_STREAM_WRITE_AFTER_END');
  });
});

describe('close() returns an awaitable of { reasonCode, description }', () => {
  test('resolves with what the close event reports, after the event', async () => {
    const { client } = await connectedPair();
    const events: Array<[number, string]> = [];
    client.on('close', (code, description) => events.push([code, description]));
    const outcome = await client.close(4000, 'bye');
    expect(events).toEqual([[4000, 'bye']]);
    expect(outcome).toEqual({ reasonCode: 4000, description: 'bye' });
  });

  test('the peer closing first: close() on the closed connection resolves with the recorded outcome', async () => {
    const { server, client } = await connectedPair();
    const closed = new Promise((resolve) => client.once('close', resolve));
    server.close(1001, 'going');
    await closed;
    expect(client.connected).toBe(false);
    expect(await client.close()).toEqual({ reasonCode: 1001, description: 'going' });
  });

  test('close() with an invalid code still throws synchronously, as 1.x', async () => {
    const { client } = await connectedPair();
    expect(() => client.close(1005)).toThrow('Close code 1005 is not valid.');
  });
});

describe('no unhandled rejections for 1.x code (child processes under --unhandled-rejections=strict)', () => {
  const run = (script: string, mode = 'strict'): { status: number | null; output: string } => {
    const child = spawnSync(process.execPath, [`--unhandled-rejections=${mode}`, '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 20_000,
    });
    return { status: child.status, output: `${child.stdout}${child.stderr}` };
  };

  test('connect to a closed port with a connectFailed listener, return value ignored', async () => {
    const port = await closedPort();
    const { status, output } = run(`
      const WebSocketClient = require('./').client;
      const client = new WebSocketClient();
      client.on('connectFailed', (e) => { console.log('connectFailed', e.code); setTimeout(() => console.log('still alive'), 50); });
      client.connect('ws://127.0.0.1:${port}/');
    `);
    expect(output).toContain('connectFailed ECONNREFUSED');
    expect(output).toContain('still alive');
    expect(status).toBe(0);
  });

  test('sends and a close after the connection closed, every result ignored', () => {
    const { status, output } = run(`
      const ws = require('./');
      const http = require('http');
      const server = http.createServer();
      server.listen(0, '127.0.0.1', () => {
        const wss = new ws.server({ httpServer: server, autoAcceptConnections: true });
        const client = new ws.client();
        client.on('connect', (connection) => {
          connection.close();
          connection.sendUTF('after close');
          connection.sendBytes(Buffer.from('after close'));
          connection.send('after close');
          connection.on('close', () => {
            connection.sendUTF('after the close event');
            connection.close();
            setTimeout(() => { console.log('still alive'); wss.shutDown(); server.close(); }, 50);
          });
        });
        client.connect('ws://127.0.0.1:' + server.address().port + '/');
      });
    `);
    expect(output).toContain('still alive');
    expect(output).not.toMatch(/Unhandled|unhandled/);
    expect(status).toBe(0);
  });

  test("an async listener that returns a send which fails (1.x style `async (m) => conn.sendUTF(x)`) does not end the process", () => {
    const { status, output } = run(`
      const ws = require('./');
      const http = require('http');
      const server = http.createServer();
      server.listen(0, '127.0.0.1', () => {
        const wss = new ws.server({ httpServer: server, autoAcceptConnections: true });
        wss.on('connect', (connection) => {
          connection.on('message', async (m) => {
            await new Promise((resolve) => setTimeout(resolve, 50));
            return connection.sendUTF('late reply to ' + m.utf8Data);
          });
          connection.on('close', () => setTimeout(() => { console.log('still alive'); wss.shutDown(); server.close(); }, 150));
        });
        const client = new ws.client();
        client.on('connect', async (connection) => {
          connection.sendUTF('hello', () => {});
          connection.drop();
        });
        client.connect('ws://127.0.0.1:' + server.address().port + '/');
      });
    `);
    expect(output).toContain('still alive');
    expect(status).toBe(0);
  });

  test('an async listener that throws an error of its own still meets the process policy, as with 1.x', () => {
    const { status, output } = run(`
      const ws = require('./');
      const http = require('http');
      const server = http.createServer();
      process.on('unhandledRejection', (reason) => { console.log('unhandled:', reason.message); process.exit(3); });
      server.listen(0, '127.0.0.1', () => {
        const wss = new ws.server({ httpServer: server, autoAcceptConnections: true });
        wss.on('connect', (connection) => {
          connection.on('message', async () => { throw new Error('application bug'); });
        });
        const client = new ws.client();
        client.on('connect', (connection) => connection.sendUTF('hello', () => {}));
        client.connect('ws://127.0.0.1:' + server.address().port + '/');
      });
    `, 'throw');
    // Node's default mode: the 'unhandledRejection' hook sees the application's own error.
    expect(output).toContain('unhandled: application bug');
    expect(status).toBe(3);
  });

  test('a connection dropped by the peer while sends are pending, results ignored', () => {
    const { status, output } = run(`
      const ws = require('./');
      const http = require('http');
      const server = http.createServer();
      server.listen(0, '127.0.0.1', () => {
        const wss = new ws.server({ httpServer: server, autoAcceptConnections: true });
        wss.on('connect', (serverSide) => {
          serverSide.socket.pause();
          setTimeout(() => serverSide.socket.destroy(), 30);
        });
        const client = new ws.client();
        client.on('connect', (connection) => {
          const big = Buffer.alloc(1 << 20);
          for (let i = 0; i < 20; i++) connection.sendBytes(big);
          connection.on('close', () => setTimeout(() => { console.log('still alive'); wss.shutDown(); server.close(); }, 50));
        });
        client.connect('ws://127.0.0.1:' + server.address().port + '/');
      });
    `);
    expect(output).toContain('still alive');
    expect(status).toBe(0);
  });
});
