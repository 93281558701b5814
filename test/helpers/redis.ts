/**
 * A real redis-server (Debian's package) for the tests that need one: started on a free 127.0.0.1
 * port with persistence off, stopped (or killed and restarted on the same port) by the test.
 * Without redis-server the tests that need it are skipped locally and fail under CI
 * (`redisTests()` below), as the browser test does without Chromium.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';

/** The redis-server binary, or null when there is none. */
export function findRedisServer(): string | null {
  for (const candidate of ['/usr/bin/redis-server', '/usr/local/bin/redis-server']) {
    if (spawnSync(candidate, ['--version']).status === 0) return candidate;
  }
  const found = spawnSync('sh', ['-c', 'command -v redis-server']);
  const path = found.stdout?.toString().trim() ?? '';
  return found.status === 0 && path !== '' ? path : null;
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** A running redis-server. */
export class RedisServer {
  private child: ChildProcess | null = null;

  private constructor(
    readonly binary: string,
    readonly port: number,
  ) {}

  /** Starts a redis-server on a free port (persistence off) and waits until it accepts connections. */
  static async start(binary = findRedisServer()): Promise<RedisServer> {
    if (binary === null) throw new Error('redis-server is not installed (apt-get install -y redis-server).');
    const server = new RedisServer(binary, await freePort());
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Starts it again on the same port (after kill()), with an empty dataset. */
  async restart(): Promise<void> {
    if (this.child !== null) return;
    const child = spawn(
      this.binary,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'warning'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('exit', () => {
      if (this.child === child) this.child = null;
    });
    const deadline = Date.now() + 10000;
    while (!(await this.ping())) {
      if (this.child !== child) throw new Error(`redis-server exited at start: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${this.port}: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Whether it answers PING now. */
  ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = net.connect(this.port, '127.0.0.1');
      let reply = '';
      socket.setTimeout(1000);
      socket.on('connect', () => socket.write('PING\r\n'));
      socket.on('data', (chunk) => {
        reply += chunk.toString();
        if (reply.includes('\r\n')) {
          socket.destroy();
          resolve(reply.startsWith('+PONG'));
        }
      });
      socket.on('error', () => resolve(false));
      socket.on('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
  }

  /** Kills it at once (SIGKILL: no goodbye to its clients) and waits for the exit. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    this.child = null;
  }

  /** Stops it for good. */
  stop(): Promise<void> {
    return this.kill();
  }
}

/**
 * Declares tests that need redis-server: run them when it is installed; otherwise one failing test
 * under CI (a missing part must not pass silently) and a skip with a message elsewhere.
 */
export function redisTests(name: string, body: (binary: string) => void): void {
  const binary = findRedisServer();
  if (binary !== null) {
    describe(name, () => body(binary));
    return;
  }
  if (process.env['CI']) {
    test(`${name}: redis-server is installed (required in CI)`, () => {
      throw new Error('redis-server was not found; CI must run the Redis tests. Install it (.ci/run does: apt-get install -y redis-server).');
    });
  } else {
    // eslint-disable-next-line no-console
    console.log(`redis-server is missing: "${name}" was SKIPPED. Install it with \`apt-get install -y redis-server\`.`);
    test.skip(`${name} (skipped: redis-server is missing)`, () => undefined);
  }
}
