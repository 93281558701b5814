/**
 * End-to-end: examples/cluster-chat (node:cluster, 2 workers, RedisBroker) driven from two pages
 * of a real browser (headless Chromium) that the cluster gave to different workers. Both join one
 * room and talk: each page must show the other's message, stamped with the other worker's pid, so
 * the message went browser → worker A → Redis → worker B → browser.
 *
 * Needs Chromium (test/helpers/chromium.ts) and redis-server (test/helpers/redis.ts): without
 * either the test is skipped locally (with a message) and fails under CI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CdpSession, Chromium, chromiumTests, exitWithin, waitFor } from '../helpers/chromium';
import { RedisServer, freePort, redisTests } from '../helpers/redis';

const ROOT = path.resolve(__dirname, '..', '..');
const SERVER_SCRIPT = path.join(ROOT, 'examples', 'cluster-chat', 'server.js');
const ROOM = 'browser-test';

/**
 * node-redis 6 (the `redis` devDependency) needs Node >= 20; a Node 18 application uses node-redis 4
 * (see test/integration/redis-broker.test.ts). On Node < 20 the example runs with a preload that
 * resolves its `require('redis')` to the `redis4` devDependency; the example itself is unchanged.
 * Returns the NODE_OPTIONS to run it with.
 */
function nodeOptionsFor(tempDir: string): string | undefined {
  const inherited = process.env['NODE_OPTIONS'];
  if (Number(process.versions.node.split('.')[0]) >= 20) return inherited;
  const preload = path.join(tempDir, 'redis4-as-redis.js');
  const target = require.resolve('redis4', { paths: [ROOT] });
  fs.writeFileSync(
    preload,
    `'use strict';
const Module = require('module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return resolve.call(this, request === 'redis' ? ${JSON.stringify(target)} : request, ...rest);
};
`,
  );
  return `${inherited ?? ''} --require ${JSON.stringify(preload)}`.trim();
}

/** The example as a child process in its own process group (primary, workers), with its output. */
class ClusterExample {
  output = '';
  readonly child: ChildProcess;

  /** For the Node < 20 preload; removed by stop(). */
  private readonly tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-cluster-chat-'));

  constructor(port: number, redisUrl: string) {
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', REDIS_URL: redisUrl, CLUSTER_WORKERS: '2' };
    const nodeOptions = nodeOptionsFor(this.tempDir);
    if (nodeOptions !== undefined) env['NODE_OPTIONS'] = nodeOptions;
    this.child = spawn(process.execPath, [SERVER_SCRIPT], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: stop() can reach the workers even if the primary is gone.
      detached: true,
    });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
  }

  /** The workers' pids, once the primary says that every worker listens and is linked to Redis. */
  workers(): Promise<number[]> {
    return waitFor('"Cluster chat is listening" from the example', () => {
      if (this.child.exitCode !== null) throw new Error(`the example exited with ${this.child.exitCode}:\n${this.output}`);
      const match = /Cluster chat is listening on \S+ with 2 workers \(pids (\d+), (\d+)\)/.exec(this.output);
      return match === null ? undefined : [Number(match[1]), Number(match[2])];
    });
  }

  private groupAlive(): boolean {
    const pid = this.child.pid;
    if (pid === undefined) return false;
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  private signalGroup(signal: NodeJS.Signals): void {
    try {
      if (this.child.pid !== undefined) process.kill(-this.child.pid, signal);
    } catch {
      // gone already
    }
  }

  /** SIGTERM to the whole group (the example's own shutdown), then SIGKILL to whatever is left. */
  async stop(): Promise<void> {
    try {
      await this.stopGroup();
    } finally {
      fs.rmSync(this.tempDir, { recursive: true, force: true });
    }
  }

  private async stopGroup(): Promise<void> {
    if (this.child.pid === undefined) return;
    if (this.groupAlive()) {
      this.signalGroup('SIGTERM');
      await exitWithin(this.child, 10_000);
      // The primary waits for its workers, so the group is normally empty by now.
      await waitFor('the example process group to end', () => (this.groupAlive() ? undefined : true), 3000).catch(() => undefined);
    }
    if (this.groupAlive()) {
      this.signalGroup('SIGKILL');
      await waitFor('the example process group to die', () => (this.groupAlive() ? undefined : true), 5000);
    }
    await exitWithin(this.child, 5000);
  }
}

/** A line of the page's #log: its class, its text, and its data-* attributes. */
interface LogEntry {
  kind: string;
  line: string;
  text?: string;
  room?: string;
  from?: string;
  worker?: string;
}

/** One chat page: a tab on the example, driven through its DOM. */
class ChatPage {
  constructor(
    readonly cdp: CdpSession,
    readonly name: string,
  ) {}

  async open(url: string): Promise<void> {
    await this.cdp.send('Page.navigate', { url: `${url}?name=${encodeURIComponent(this.name)}` });
  }

  /** The worker pid the page shows once its connection is open and welcomed. */
  worker(): Promise<number> {
    return waitFor(`${this.name}'s page to connect and show its worker`, async () => {
      const state = await this.cdp.evaluate<{ status: string; pid: string; me: string } | null>(
        `(() => { const s = document.getElementById('status'), w = document.getElementById('worker');
                  return s && w && { status: s.dataset.state, pid: w.dataset.pid, me: document.getElementById('me').textContent }; })()`,
      );
      return state !== null && state.status === 'open' && state.pid !== '' && state.me === this.name ? Number(state.pid) : undefined;
    });
  }

  /** Opens a new connection (the cluster gives it to the next worker in turn) and returns its worker. */
  async reconnect(): Promise<number> {
    // The click clears the worker shown at once; the new connection's welcome sets it again.
    await this.cdp.evaluate(`document.getElementById('reconnect').click()`);
    return this.worker();
  }

  log(): Promise<LogEntry[]> {
    return this.cdp.evaluate<LogEntry[]>(
      `Array.from(document.querySelectorAll('#log li'), (li) => ({ ...li.dataset, kind: li.className, line: li.textContent }))`,
    );
  }

  async join(room: string): Promise<void> {
    await this.cdp.evaluate(`(() => {
      document.getElementById('room').value = ${JSON.stringify(room)};
      document.getElementById('join').click();
    })()`);
    // The worker answers 'joined' once it has subscribed the connection (and its broker sent SUBSCRIBE).
    const selector = `#rooms li[data-room=${JSON.stringify(room)}]`;
    await waitFor(`${this.name}'s page to show ${room} among its rooms`, async () =>
      (await this.cdp.evaluate<boolean>(`!!document.querySelector(${JSON.stringify(selector)})`)) ? true : undefined,
    );
  }

  async say(room: string, text: string): Promise<void> {
    await this.cdp.evaluate(`(() => {
      document.getElementById('say-room').value = ${JSON.stringify(room)};
      document.getElementById('say-text').value = ${JSON.stringify(text)};
      document.getElementById('say').click();
    })()`);
  }

  /** Waits until the page's log has an entry matching `predicate`. */
  waitForEntry(what: string, predicate: (entry: LogEntry) => boolean): Promise<LogEntry> {
    return waitFor(`${this.name}'s page to show ${what}`, async () => (await this.log()).find(predicate));
  }
}

chromiumTests('examples/cluster-chat in headless Chromium', 'test/browser/cluster-chat.test.ts', (executable) => {
  redisTests('with a redis-server and 2 workers', () => {
    let redis: RedisServer | undefined;
    let example: ClusterExample | undefined;
    let browser: Chromium | undefined;
    let port = 0;
    let pids: number[] = [];

    beforeAll(async () => {
      browser = new Chromium(executable, 'ws-cluster-chat-chromium-');
      redis = await RedisServer.start();
      port = await freePort();
      example = new ClusterExample(port, redis.url);
      pids = await example.workers();
      await browser.devTools();
    }, 60_000);

    afterAll(async () => {
      await browser?.stop();
      await example?.stop();
      await redis?.stop();
    }, 40_000);

    test('two pages on different workers see each other in a room', async () => {
      try {
        await chat(browser as Chromium);
      } catch (err) {
        // The example's log says what the servers saw.
        if (err instanceof Error) err.message += `\n--- examples/cluster-chat output ---\n${example?.output ?? ''}`;
        throw err;
      }
    }, 60_000);

    async function chat(chromium: Chromium): Promise<void> {
      const url = `http://127.0.0.1:${port}/`;
      expect(pids).toHaveLength(2);
      expect(pids[0]).not.toBe(pids[1]);

      const alice = new ChatPage(await chromium.newPage(), 'alice');
      const bob = new ChatPage(await chromium.newPage(), 'bob');
      await alice.open(url);
      await bob.open(url);
      const aliceWorker = await alice.worker();
      let bobWorker = await bob.worker();
      expect(pids).toContain(aliceWorker);

      // The cluster hands each new connection to the next worker in turn: a few reconnects at most.
      for (let attempt = 0; bobWorker === aliceWorker && attempt < 10; attempt++) {
        bobWorker = await bob.reconnect();
      }
      expect(bobWorker).not.toBe(aliceWorker);
      expect(pids).toContain(bobWorker);

      await alice.join(ROOM);
      await bob.join(ROOM);
      // Bob's worker published the notice; Alice's worker got it through Redis.
      await alice.waitForEntry(
        'that bob joined',
        (e) => e.kind === 'notice' && e.room === ROOM && e.text === 'bob joined' && e.worker === String(bobWorker),
      );

      await alice.say(ROOM, 'Hello from alice');
      await bob.say(ROOM, 'Hi alice, bob here');

      const fromAlice = await bob.waitForEntry('alice\'s message', (e) => e.kind.startsWith('message') && e.from === 'alice');
      const fromBob = await alice.waitForEntry('bob\'s message', (e) => e.kind.startsWith('message') && e.from === 'bob');
      expect(fromAlice).toMatchObject({ room: ROOM, from: 'alice', worker: String(aliceWorker), text: 'Hello from alice' });
      expect(fromAlice.line).toBe(`[${ROOM}] alice (worker ${aliceWorker}): Hello from alice`);
      expect(fromBob).toMatchObject({ room: ROOM, from: 'bob', worker: String(bobWorker), text: 'Hi alice, bob here' });
      expect(fromBob.line).toBe(`[${ROOM}] bob (worker ${bobWorker}): Hi alice, bob here`);

      // Each sender got its own message back too (through its own worker).
      await alice.waitForEntry('its own message', (e) => e.kind === 'message own' && e.worker === String(aliceWorker));
      await bob.waitForEntry('its own message', (e) => e.kind === 'message own' && e.worker === String(bobWorker));
    }
  });
});
