/**
 * Three Node processes, each its own http server + WebSocketServer + RedisBroker (fixtures/broker-node.js,
 * on the built package), one real redis-server, `ws` clients on every node: a publish on one node
 * reaches the subscribers on all; sendTo crosses processes; Redis killed and restarted mid-stream
 * (delivery resumes by itself); one node killed with SIGKILL (the others keep serving and the
 * cluster counts heal within the presence TTL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type WebSocket from 'ws';
import { cleanup, delay, onCleanup, until, wsClient } from '../helpers/server';
import { RedisServer, redisTests } from '../helpers/redis';

const FIXTURE = path.join(__dirname, 'fixtures', 'broker-node.js');

interface NodeProcess {
  child: ChildProcess;
  port: number;
  nodeId: string;
  url: string;
}

async function startNodeProcess(redis: RedisServer, client: string): Promise<NodeProcess> {
  const child = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, REDIS_URL: redis.url, REDIS_CLIENT: client, HEARTBEAT: '100', PRESENCE_TTL: '500' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`node did not start: ${stderr}`)), 10000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const newline = out.indexOf('\n');
      if (newline >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, newline));
      }
    });
    child.once('exit', (code) => reject(new Error(`node exited with ${code}: ${stderr}`)));
  });
  const { port, nodeId } = JSON.parse(line) as { port: number; nodeId: string };
  return { child, port, nodeId, url: `ws://127.0.0.1:${port}/` };
}

function inbox(client: WebSocket): string[] {
  const got: string[] = [];
  client.on('message', (data: Buffer) => got.push(data.toString()));
  return got;
}

/** Asks a node for its cluster counts through one of its clients: [subscribers of topic, connections], or null if it cannot tell now. */
async function counts(client: WebSocket, got: string[], topic: string): Promise<[number, number] | null> {
  const before = got.length;
  client.send(`count ${topic}`);
  await until(() => got.slice(before).some((m) => m.startsWith('count ')), 'a count reply', 5000);
  const reply = got.splice(before).find((m) => m.startsWith('count '))!;
  const parts = reply.split(' ');
  return parts[1] === 'error' ? null : [Number(parts[1]), Number(parts[2])];
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(50);
  }
  return Date.now() - start;
}

redisTests('three node processes on one redis-server', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis.stop();
  });
  afterEach(cleanup);

  // The current client majors need Node >= 20; on Node 18 the older ones (node-redis 4, ioredis 5) run.
  const modern = Number(process.versions.node.split('.')[0]) >= 20;
  for (const client of modern ? ['node-redis', 'ioredis'] : ['node-redis-v4', 'ioredis-v5']) {
    test(`${client}: publish, sendTo, Redis restart and a node killed with SIGKILL`, async () => {
      if (!redis.running) await redis.restart();
      const nodes = await Promise.all([0, 1, 2].map(() => startNodeProcess(redis, client)));
      const clients: WebSocket[] = [];
      for (const node of nodes) for (let i = 0; i < 2; i++) clients.push(await wsClient(node.url));
      const inboxes = clients.map(inbox);
      for (const ws of clients) ws.send('sub room');
      // Everyone subscribed, as every node sees it (presence writes are batched for 20 ms).
      await eventually(async () => (await counts(clients[0]!, inboxes[0]!, 'room'))?.[0] === 6, 'six subscribers in the cluster', 5000);

      // A publish on node 0 reaches the five other subscribers, on all three processes.
      clients[0]!.send('pub room hello everyone');
      await until(() => inboxes.slice(1).every((box) => box.includes('hello everyone')), 'the publish on every node', 5000);
      await delay(50);
      expect(inboxes[0]).not.toContain('hello everyone');
      expect(inboxes.map((box) => box.filter((m) => m === 'hello everyone').length)).toEqual([0, 1, 1, 1, 1, 1]);

      // sendTo from node 0 to a connection on node 2.
      clients[5]!.send('id');
      await until(() => inboxes[5]!.some((m) => m.startsWith('id ')), 'the id');
      const id = inboxes[5]!.find((m) => m.startsWith('id '))!.slice(3);
      expect(id.startsWith(`${nodes[2]!.nodeId}:`)).toBe(true);
      clients[0]!.send(`to ${id} just for you`);
      await until(() => inboxes[5]!.includes('just for you'), 'the direct message', 5000);
      expect(inboxes.filter((box) => box.includes('just for you'))).toHaveLength(1);

      // Redis killed and restarted: delivery resumes without anyone's help.
      await redis.kill();
      await delay(200);
      await redis.restart();
      await eventually(async () => (await counts(clients[0]!, inboxes[0]!, 'room'))?.[0] === 6, 'presence rewritten after the restart', 10000);
      await eventually(
        async () => {
          clients[1]!.send('pub room after restart');
          await delay(100);
          return [0, 2, 3, 4, 5].every((i) => inboxes[i]!.includes('after restart'));
        },
        'delivery after the restart',
        10000,
      );

      // Node 1 killed with SIGKILL: no goodbye. The others keep serving, and the counts heal.
      nodes[1]!.child.kill('SIGKILL');
      await new Promise((resolve) => nodes[1]!.child.once('exit', resolve));
      clients[4]!.send('pub room still here');
      await until(() => [0, 1, 5].every((i) => inboxes[i]!.includes('still here')), 'delivery without node 1', 5000);
      const healedIn = await eventually(
        async () => {
          const seen = await counts(clients[0]!, inboxes[0]!, 'room');
          return seen !== null && seen[0] === 4 && seen[1] === 4;
        },
        'the counts to heal',
        5000,
      );
      // Presence TTL is 500 ms here: the dead node stops counting within it (plus one poll).
      expect(healedIn).toBeLessThan(2000);
    });
  }
});
