/**
 * RedisBroker against a real redis-server, with each supported client (node-redis 6 and 4, ioredis
 * 6 and 5): three WebSocketServers in this process, each a node with its own broker and Redis
 * clients, and `ws` clients on each. Publish/broadcast/sendTo across nodes, channel subscriptions
 * only while there are local subscribers, counts across nodes, Redis down at start, Redis killed
 * and restarted mid-stream, the bounded queue, malformed bus messages, sharded pub/sub.
 * (Several processes, and a node killed with SIGKILL: cluster-processes.test.ts.)
 */
import * as net from 'node:net';
import type WebSocket from 'ws';
import { cleanup, delay, onCleanup, startServer, until, wsClient, type TestServer, type WebSocketConnection } from '../helpers/server';
import { RedisServer, redisTests } from '../helpers/redis';
import { RedisBroker, type RedisBrokerOptions } from '../../lib/brokers/redis-broker';
import type { RedisClient } from '../../lib/brokers/redis-link';

type ClientKind = 'node-redis' | 'node-redis-v4' | 'ioredis' | 'ioredis-v5';

/**
 * The clients tested: the current majors of node-redis (6) and ioredis (6), and the oldest majors
 * supported (node-redis 4, ioredis 5). The current majors need Node >= 20, so on Node 18 only the
 * older majors run: those are the ones a Node 18 application can use.
 */
const CLIENT_KINDS: readonly ClientKind[] =
  Number(process.versions.node.split('.')[0]) >= 20 ? ['node-redis', 'node-redis-v4', 'ioredis', 'ioredis-v5'] : ['node-redis-v4', 'ioredis-v5'];

/** A client of `kind` for `redis`, reconnecting `retryMs` after a loss; closed at teardown. */
function makeClient(kind: ClientKind, redis: RedisServer, retryMs = 50): RedisClient {
  let client: RedisClient & { on(event: string, listener: (...args: unknown[]) => void): unknown };
  if (kind === 'ioredis' || kind === 'ioredis-v5') {
    const IORedis = require(kind === 'ioredis' ? 'ioredis' : 'ioredis5') as new (options: object) => RedisClient & { disconnect(): void; on(event: string, listener: (...args: unknown[]) => void): unknown };
    const io = new IORedis({ host: '127.0.0.1', port: redis.port, retryStrategy: () => retryMs, maxRetriesPerRequest: null });
    onCleanup(() => io.disconnect());
    client = io;
  } else {
    const redisModule = require(kind === 'node-redis' ? 'redis' : 'redis4') as {
      createClient(options: object): RedisClient & { on(event: string, listener: (...args: unknown[]) => void): unknown; isOpen: boolean };
    };
    const nodeClient = redisModule.createClient({ url: redis.url, socket: { reconnectStrategy: () => retryMs } });
    onCleanup(async () => {
      const c = nodeClient as unknown as { isOpen: boolean; destroy?: () => void; disconnect?: () => Promise<void> };
      if (!c.isOpen) return;
      if (typeof c.destroy === 'function') c.destroy();
      else await c.disconnect?.();
    });
    client = nodeClient;
  }
  return client;
}

interface Node {
  server: TestServer;
  broker: RedisBroker;
  errors: Error[];
}

/** A node: a WebSocketServer with a RedisBroker; incoming text `sub <t>` subscribes the sender. */
async function startNode(kind: ClientKind, redis: RedisServer, options: Partial<RedisBrokerOptions> = {}): Promise<Node> {
  const broker = new RedisBroker({ client: makeClient(kind, redis), replayDelay: 100, heartbeatInterval: 100, presenceTtl: 400, ...options });
  const errors: Error[] = [];
  broker.on('error', (error) => errors.push(error));
  onCleanup(() => broker.close());
  const server = await startServer({ autoAcceptConnections: true, broker });
  server.ws.on('connect', (connection: WebSocketConnection) => {
    connection.on('message', (message) => {
      if (message.type !== 'utf8') return;
      const [command, ...rest] = message.utf8Data.split(' ');
      const arg = rest.join(' ');
      if (command === 'sub') connection.subscribe(arg);
      else if (command === 'unsub') connection.unsubscribe(arg);
      else if (command === 'id') connection.sendUTF(`id ${connection.clusterId}`);
    });
  });
  return { server, broker, errors };
}

async function whenReady(broker: RedisBroker, timeoutMs = 5000): Promise<void> {
  await until(() => broker.ready, 'the broker to be ready', timeoutMs);
}

/** Collects the text messages a ws client receives. */
function inbox(client: WebSocket): string[] {
  const got: string[] = [];
  client.on('message', (data: Buffer, isBinary: boolean) => got.push(isBinary ? `bin:${data.toString('hex')}` : data.toString()));
  return got;
}

/** Runs a Redis command on a fresh raw connection (RESP inline), returning the reply text. */
async function redisCommand(redis: RedisServer, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(redis.port, '127.0.0.1');
    const parts = [`*${args.length}`, ...args.flatMap((arg) => [`$${Buffer.byteLength(arg)}`, arg])];
    let reply = '';
    socket.on('connect', () => socket.write(parts.join('\r\n') + '\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      // Enough for the short replies these tests read (integers, small arrays).
      setTimeout(() => {
        socket.destroy();
        resolve(reply);
      }, 20);
    });
    socket.on('error', reject);
  });
}

/** Subscribers Redis counts on a channel (PUBSUB NUMSUB). */
async function numsub(redis: RedisServer, channel: string): Promise<number> {
  const reply = await redisCommand(redis, 'PUBSUB', 'NUMSUB', channel);
  const match = /:(\d+)\r\n$/.exec(reply);
  return match === null ? -1 : Number(match[1]);
}

redisTests('RedisBroker with a real redis-server', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis.stop();
  });
  afterEach(async () => {
    await cleanup();
    if (!redis.running) await redis.restart();
  });

  for (const kind of CLIENT_KINDS) {
    describe(kind, () => {
      test('publish on one node reaches the subscribers on every node, once, in order; except skips the sender', async () => {
        const nodes = [await startNode(kind, redis), await startNode(kind, redis), await startNode(kind, redis)];
        for (const node of nodes) await whenReady(node.broker);
        const clients = await Promise.all(nodes.map((node) => wsClient(node.server.url)));
        const inboxes = clients.map(inbox);
        const idle = await wsClient(nodes[1]!.server.url);
        const idleInbox = inbox(idle);
        for (const client of clients) client.send('sub room');
        await until(() => nodes.every((node) => node.server.ws.subscriberCount('room') === 1), 'subscriptions');
        await waitFor(async () => (await numsub(redis, 'websocket:t:room')) === 3, 'three nodes on the channel');

        const sender = nodes[0]!.server.ws.connections[0]!;
        for (let i = 0; i < 20; i++) nodes[0]!.server.ws.publish('room', `m${i}`, { except: sender });
        nodes[2]!.server.ws.publish('room', Buffer.from([1, 2]));
        const expected = Array.from({ length: 20 }, (_, i) => `m${i}`);
        await until(() => inboxes[0]!.length === 1 && inboxes[1]!.length === 21 && inboxes[2]!.length === 21, 'deliveries', 5000);
        // Order holds per publisher: node 2's message may fall anywhere among node 0's.
        expect(inboxes[1]!.filter((m) => m.startsWith('m'))).toEqual(expected);
        expect(inboxes[2]!.filter((m) => m.startsWith('m'))).toEqual(expected);
        expect(inboxes[0]).toEqual(['bin:0102']);
        expect(inboxes[1]!.filter((m) => m === 'bin:0102')).toHaveLength(1);
        await delay(50);
        expect(inboxes[0]).toHaveLength(1);
        expect(idleInbox).toEqual([]);

        // The last local subscriber leaving takes the node off the channel.
        clients[1]!.send('unsub room');
        await waitFor(async () => (await numsub(redis, 'websocket:t:room')) === 2, 'two nodes left on the channel');
        for (const node of nodes) expect(node.errors).toEqual([]);
        expect(nodes[1]!.broker.stats).toMatchObject({ malformed: 0, dropped: 0, queued: 0 });
      });

      test('broadcast* and sendTo reach other nodes; counts add up across nodes', async () => {
        const nodes = [await startNode(kind, redis), await startNode(kind, redis), await startNode(kind, redis)];
        for (const node of nodes) await whenReady(node.broker);
        const a = await wsClient(nodes[0]!.server.url);
        const b = await wsClient(nodes[1]!.server.url);
        const c = await wsClient(nodes[2]!.server.url);
        const [ia, ib, ic] = [inbox(a), inbox(b), inbox(c)];
        c.send('id');
        await until(() => ic.length === 1, 'the id');
        const id = ic.shift()!.slice(3);
        expect(id.startsWith(`${nodes[2]!.broker.nodeId}:`)).toBe(true);

        nodes[0]!.server.ws.broadcastUTF('to everyone');
        expect(nodes[0]!.server.ws.sendTo(id, 'just for c')).toBe(true);
        await until(() => ia.length === 1 && ib.length === 1 && ic.length === 2, 'broadcast and direct', 5000);
        expect([ia, ib, ic]).toEqual([['to everyone'], ['to everyone'], ['to everyone', 'just for c']]);

        a.send('sub t');
        b.send('sub t');
        c.send('sub u');
        await waitFor(async () => (await nodes[2]!.server.ws.clusterSubscriberCount('t')) === 2, 'cluster count of t');
        // Presence is written within a few ms of a change (batched): other nodes see it shortly after.
        await waitFor(async () => (await nodes[0]!.server.ws.clusterSubscriberCount('u')) === 1, 'cluster count of u');
        await waitFor(async () => (await nodes[1]!.server.ws.clusterConnectionCount()) === 3, 'cluster connection count');
        b.close();
        await waitFor(async () => (await nodes[0]!.server.ws.clusterConnectionCount()) === 2, 'count after a close');
        await waitFor(async () => (await nodes[0]!.server.ws.clusterSubscriberCount('t')) === 1, 'subscribers after a close');
        // A node that shuts down leaves the counts at once.
        nodes[2]!.server.ws.shutDown();
        await waitFor(async () => (await nodes[0]!.server.ws.clusterConnectionCount()) === 1, 'count after a shutdown');
      });

      test('Redis killed and restarted mid-stream: local delivery goes on, publishes queue, subscriptions come back by themselves', async () => {
        // replayDelay: long enough for the other node to have resubscribed, even on a busy machine.
        const nodes = [await startNode(kind, redis, { replayDelay: 2000 }), await startNode(kind, redis, { replayDelay: 2000 })];
        for (const node of nodes) await whenReady(node.broker);
        const a = await wsClient(nodes[0]!.server.url);
        const a2 = await wsClient(nodes[0]!.server.url);
        const b = await wsClient(nodes[1]!.server.url);
        const [ia, ia2, ib] = [inbox(a), inbox(a2), inbox(b)];
        for (const client of [a, a2, b]) client.send('sub live');
        await waitFor(async () => (await numsub(redis, 'websocket:t:live')) === 2, 'both nodes on the channel');

        await redis.kill();
        await until(() => !nodes[0]!.broker.ready && !nodes[1]!.broker.ready, 'the brokers to notice', 5000);
        expect(nodes[0]!.server.ws.publish('live', 'while down', { except: nodes[0]!.server.ws.connections[0] })).toBe(1);
        await until(() => ia2.length === 1, 'local delivery while Redis is down');
        expect(nodes[0]!.broker.stats.queued).toBe(1);
        await expect(nodes[0]!.server.ws.clusterConnectionCount()).rejects.toThrow('Redis is unreachable');
        // One 'error' per outage, never an unhandled one.
        await until(() => nodes[0]!.errors.length >= 1, 'an error event');

        await redis.restart();
        for (const node of nodes) await whenReady(node.broker, 10000);
        await until(() => ib.includes('while down'), 'the queued publish after the restart', 5000);
        expect(nodes[0]!.broker.stats.queued).toBe(0);
        // Redis restarted empty: the nodes resubscribed on their own.
        await waitFor(async () => (await numsub(redis, 'websocket:t:live')) === 2, 'resubscribed');
        nodes[1]!.server.ws.publish('live', 'after restart');
        await until(() => ia.includes('after restart') && ia2.includes('after restart'), 'delivery after the restart', 5000);
        expect(nodes[0]!.errors.length).toBe(1);
        expect(nodes[0]!.errors[0]!.message).toMatch(/^RedisBroker: /);
        // Presence was written again after the restart.
        await waitFor(async () => (await nodes[0]!.server.ws.clusterConnectionCount()) === 3, 'presence after the restart');
      });

      test('the subscriber connection alone lost: a publish at that moment waits until it is back, then reaches the other nodes', async () => {
        // replayDelay: the other node is back on the channel by then.
        const subscriber = makeClient(kind, redis) as RedisClient & { on(event: string, listener: () => void): unknown };
        const nodes = [await startNode(kind, redis, { subscriber, replayDelay: 1000 }), await startNode(kind, redis, { replayDelay: 1000 })];
        for (const node of nodes) await whenReady(node.broker);
        const a = await wsClient(nodes[0]!.server.url);
        const b = await wsClient(nodes[1]!.server.url);
        const [ia, ib] = [inbox(a), inbox(b)];
        for (const client of [a, b]) client.send('sub s');
        await waitFor(async () => (await numsub(redis, 'websocket:t:s')) === 2, 'both nodes on the channel');

        // The moment node 0's subscriber connection reports the loss (ioredis: 'close', without an
        // error; node-redis: 'error'); its publishing connection is still up. Sent then, the publish
        // would reach no other node (their subscribers are gone too): it waits.
        let queuedInGap = -1;
        subscriber.on(kind.startsWith('ioredis') ? 'close' : 'error', () => {
          if (queuedInGap !== -1) return;
          nodes[0]!.server.ws.publish('s', 'in the gap');
          queuedInGap = nodes[0]!.broker.stats.queued;
        });
        expect(await redisCommand(redis, 'CLIENT', 'KILL', 'TYPE', 'pubsub')).toMatch(/^:2\r\n/);
        await until(() => queuedInGap !== -1, 'the loss to be noticed');
        expect(queuedInGap).toBe(1);
        await until(() => ia.length === 1, 'local delivery');
        for (const node of nodes) await whenReady(node.broker, 5000);
        await until(() => ib.includes('in the gap'), 'the publish replayed to the other node', 5000);
        expect(nodes[0]!.broker.stats.queued).toBe(0);
        expect([ia, ib]).toEqual([['in the gap'], ['in the gap']]);
      });

      test('Redis down at start: the server serves locally, says so once, and connects when Redis comes up', async () => {
        await redis.kill();
        // The queued publish waits replayDelay after reconnecting: long enough here for the other node to subscribe.
        const node = await startNode(kind, redis, { replayDelay: 3000 });
        const b = await wsClient(node.server.url);
        const ib = inbox(b);
        b.send('sub t');
        await until(() => node.server.ws.subscriberCount('t') === 1, 'the subscription');
        node.server.ws.publish('t', 'local first');
        await until(() => ib.length === 1, 'local delivery');
        await until(() => node.errors.length === 1, 'one error event');
        expect(node.broker.ready).toBe(false);
        expect(node.broker.stats.queued).toBe(1);
        await redis.restart();
        await whenReady(node.broker, 10000);
        const other = await startNode(kind, redis);
        await whenReady(other.broker);
        const c = await wsClient(other.server.url);
        const ic = inbox(c);
        c.send('sub t');
        await waitFor(async () => (await numsub(redis, 'websocket:t:t')) === 2, 'both nodes on the channel');
        await until(() => ic.includes('local first'), 'the queued publish reaching the other node', 5000);
        node.server.ws.publish('t', 'now connected');
        await until(() => ic.includes('now connected') && ib.includes('now connected'), 'delivery once connected', 5000);
        expect(node.errors).toHaveLength(1);
      });

      test('a topic left while Redis was down is not resubscribed when it comes back', async () => {
        const node = await startNode(kind, redis);
        await whenReady(node.broker);
        const a = await wsClient(node.server.url);
        a.send('sub gone');
        a.send('sub kept');
        await waitFor(async () => (await numsub(redis, 'websocket:t:gone')) === 1 && (await numsub(redis, 'websocket:t:kept')) === 1, 'the subscriptions');
        await redis.kill();
        await until(() => !node.broker.ready, 'the broker to notice', 5000);
        a.send('unsub gone');
        await until(() => node.server.ws.subscriberCount('gone') === 0, 'the local unsubscribe');
        await redis.restart();
        await whenReady(node.broker, 10000);
        await waitFor(async () => (await numsub(redis, 'websocket:t:kept')) === 1, 'kept resubscribed');
        await waitFor(async () => (await numsub(redis, 'websocket:t:gone')) === 0, 'gone not subscribed');
        await delay(300);
        expect(await numsub(redis, 'websocket:t:gone')).toBe(0);
      });

      test('publishes while Redis is down are bounded: the oldest are dropped and counted', async () => {
        // The replay waits long enough for the other node to have resubscribed, even on a busy machine.
        const node = await startNode(kind, redis, { maxQueuedPublishes: 3, replayDelay: 2000 });
        const other = await startNode(kind, redis);
        await whenReady(node.broker);
        await whenReady(other.broker);
        const c = await wsClient(other.server.url);
        const ic = inbox(c);
        c.send('sub q');
        await waitFor(async () => (await numsub(redis, 'websocket:t:q')) === 1, 'the subscription');
        await redis.kill();
        await until(() => !node.broker.ready, 'the broker to notice', 5000);
        for (let i = 0; i < 10; i++) node.server.ws.publish('q', `q${i}`);
        expect(node.broker.stats).toMatchObject({ queued: 3, dropped: 7 });
        await redis.restart();
        await until(() => ic.length === 3, 'the three kept publishes', 10000);
        expect(ic).toEqual(['q7', 'q8', 'q9']);
        await delay(100);
        expect(ic).toHaveLength(3);
      });

      test('malformed messages on our channels are ignored and counted; nobody listening to errors is not a crash', async () => {
        const node = await startNode(kind, redis);
        await whenReady(node.broker);
        const a = await wsClient(node.server.url);
        const ia = inbox(a);
        a.send('sub m');
        await waitFor(async () => (await numsub(redis, 'websocket:t:m')) === 1, 'the subscription');
        await redisCommand(redis, 'PUBLISH', 'websocket:t:m', 'not an envelope');
        await redisCommand(redis, 'PUBLISH', 'websocket:all', 'WS\u0001\u0002garbage');
        await redisCommand(redis, 'PUBLISH', `websocket:n:${node.broker.nodeId}`, '');
        await until(() => node.broker.stats.malformed === 3, 'three malformed messages counted', 5000);
        expect(ia).toEqual([]);
        expect(node.server.ws.connections).toHaveLength(1);

        // A broker without an 'error' listener reports through a process warning, once.
        const warnings: string[] = [];
        const spy = jest.spyOn(process, 'emitWarning').mockImplementation(((warning: string | Error, type?: string) => {
          if (type === 'RedisBrokerWarning') warnings.push(String(warning));
        }) as typeof process.emitWarning);
        onCleanup(() => spy.mockRestore());
        node.broker.removeAllListeners('error');
        await redis.kill();
        await until(() => warnings.length === 1, 'a process warning', 5000);
        await delay(300);
        expect(node.broker.stats.errors).toBeGreaterThan(1);
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(/^RedisBroker: .*local delivery goes on/);
      });

      test('a command Redis refuses while connected is reported each time and stops nothing', async () => {
        const nodes = [await startNode(kind, redis), await startNode(kind, redis)];
        for (const node of nodes) await whenReady(node.broker);
        const b = await wsClient(nodes[1]!.server.url);
        const ib = inbox(b);
        b.send('sub w');
        await waitFor(async () => (await numsub(redis, 'websocket:t:w')) === 1, 'the subscription');
        // Node 0's presence hash replaced by a string: its next HSET fails with WRONGTYPE.
        await redisCommand(redis, 'SET', `websocket:{presence}:node:${nodes[0]!.broker.nodeId}`, 'not a hash');
        const a = await wsClient(nodes[0]!.server.url);
        await until(() => nodes[0]!.errors.some((e) => /WRONGTYPE/.test(e.message)), 'the WRONGTYPE error', 5000);
        expect(nodes[0]!.broker.ready).toBe(true);
        nodes[0]!.server.ws.publish('w', 'still flowing');
        await until(() => ib.includes('still flowing'), 'delivery after the refused command', 5000);
        a.close();
      });

      test('close() is a clean goodbye (no error event), and resolves while Redis is down too', async () => {
        const node = await startNode(kind, redis);
        await whenReady(node.broker);
        const a = await wsClient(node.server.url);
        a.send('sub bye');
        await waitFor(async () => (await numsub(redis, 'websocket:t:bye')) === 1, 'the subscription');
        node.server.ws.shutDown();
        await node.broker.close();
        await waitFor(async () => (await numsub(redis, 'websocket:t:bye')) === 0, 'the unsubscribe');
        await delay(50);
        expect(node.errors).toEqual([]);

        const other = await startNode(kind, redis);
        await whenReady(other.broker);
        const b = await wsClient(other.server.url);
        b.send('sub bye');
        await until(() => other.server.ws.subscriberCount('bye') === 1, 'the subscription');
        await redis.kill();
        await until(() => !other.broker.ready, 'the broker to notice', 5000);
        const started = Date.now();
        other.server.ws.shutDown();
        await other.broker.close();
        expect(Date.now() - started).toBeLessThan(2500);
      });

      test('sharded pub/sub (SSUBSCRIBE/SPUBLISH) works the same', async () => {
        const nodes = [await startNode(kind, redis, { sharded: true }), await startNode(kind, redis, { sharded: true })];
        for (const node of nodes) await whenReady(node.broker);
        const a = await wsClient(nodes[0]!.server.url);
        const b = await wsClient(nodes[1]!.server.url);
        const [ia, ib] = [inbox(a), inbox(b)];
        a.send('sub s');
        b.send('sub s');
        b.send('id');
        await until(() => ib.length === 1 && nodes[0]!.server.ws.subscriberCount('s') === 1, 'subscriptions and id');
        const id = ib.shift()!.slice(3);
        await waitFor(async () => {
          const reply = await redisCommand(redis, 'PUBSUB', 'SHARDNUMSUB', 'websocket:t:s');
          return reply.endsWith(':2\r\n');
        }, 'two shard subscribers');
        nodes[0]!.server.ws.publish('s', 'sharded');
        nodes[0]!.server.ws.sendTo(id, 'direct');
        await until(() => ia.length === 1 && ib.length === 2, 'sharded deliveries', 5000);
        expect([ia, ib]).toEqual([['sharded'], ['sharded', 'direct']]);
      });
    });
  }
});

/** Polls an async condition. */
async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // Not yet (Redis restarting, say).
    }
    if (Date.now() - start > timeoutMs) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(20);
  }
}
