/**
 * Headless Chromium for the browser tests (test/browser): finding the binary, starting and stopping
 * it, and driving pages over the Chrome DevTools Protocol. The CDP connection itself is made with
 * our own WebSocketClient, so a browser test exercises the client against Chromium's DevTools server
 * and the server against Chromium's WebSocket implementation at once, with no extra dependency.
 *
 * Without Chromium the browser tests are skipped locally (with a message) and fail under CI, where
 * .ci/run installs it (`chromiumTests()` below).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import websocket = require('../../lib/websocket');

type Connection = InstanceType<typeof websocket.connection>;

export const STEP_TIMEOUT_MS = 20_000;

/** The Chromium binary: /usr/bin/chromium or `chromium` on PATH; null when there is none. */
export function findChromium(): string | null {
  const candidates = ['/usr/bin/chromium'];
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (dir !== '') candidates.push(path.join(dir, 'chromium'));
  }
  for (const candidate of candidates) {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not there; try the next one
    }
  }
  return null;
}

/**
 * Declares tests that need Chromium: run them when it is installed; otherwise one failing test
 * under CI (a missing part must not pass silently) and a skip with a message elsewhere.
 */
export function chromiumTests(name: string, testFile: string, body: (executable: string) => void): void {
  const executable = findChromium();
  if (executable !== null) {
    describe(name, () => body(executable));
    return;
  }
  if (process.env['CI']) {
    test('headless Chromium is installed (required in CI)', () => {
      throw new Error(
        'Chromium was not found at /usr/bin/chromium or as `chromium` on PATH; CI must run the browser test. ' +
          'Install it (.ci/run does: apt-get install -y chromium).',
      );
    });
  } else {
    // eslint-disable-next-line no-console
    console.log(
      `Chromium is missing (/usr/bin/chromium or \`chromium\` on PATH): the browser test ${testFile} was SKIPPED. ` +
        'Install it with `apt-get install -y chromium` to run it.',
    );
    test.skip(`${name} (skipped: Chromium is missing)`, () => undefined);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value other than undefined, or fails with `what` in the message. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = STEP_TIMEOUT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(50);
  }
}

export function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        if (res.statusCode !== 200) {
          reject(new Error(`GET ${url}: HTTP ${res.statusCode}: ${body}`));
          return;
        }
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${url} timed out`)));
  });
}

/** Waits up to `ms` for `child` to exit; true when it did. */
export function exitWithin(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

interface CdpError {
  code: number;
  message: string;
}
interface CdpReply {
  id?: number;
  result?: unknown;
  error?: CdpError;
  method?: string;
}

/** A minimal CDP session over one of our WebSocket connections. */
export class CdpSession {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly connection: Connection) {
    connection.on('message', (message) => {
      if (message.type !== 'utf8') return;
      const reply = JSON.parse(message.utf8Data) as CdpReply;
      if (reply.id === undefined) return; // an event; the tests poll the page instead
      const waiter = this.pending.get(reply.id);
      if (waiter === undefined) return;
      this.pending.delete(reply.id);
      if (reply.error !== undefined) waiter.reject(new Error(`CDP error ${reply.error.code}: ${reply.error.message}`));
      else waiter.resolve(reply.result);
    });
    connection.on('close', (code, description) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`CDP connection closed (${code} ${description})`));
      this.pending.clear();
    });
  }

  static connect(url: string): Promise<CdpSession> {
    return new Promise((resolve, reject) => {
      // DevTools frames (screenshots, large results) can exceed the client's defaults.
      const client = new websocket.client({ maxReceivedFrameSize: 64 << 20, maxReceivedMessageSize: 64 << 20 });
      client.once('connect', (connection: Connection) => resolve(new CdpSession(connection)));
      client.once('connectFailed', (err: Error) => reject(err));
      // No Origin header: Chromium refuses DevTools connections from origins it was not told to allow.
      client.connect(url);
    });
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.connection.sendUTF(JSON.stringify({ id, method, params }));
    });
  }

  /** Evaluates `expression` in the page and returns its JSON value; page exceptions reject. */
  async evaluate<T>(expression: string): Promise<T> {
    const result = (await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })) as {
      result: { value?: unknown };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (result.exceptionDetails !== undefined) {
      const ex = result.exceptionDetails;
      throw new Error(`Page exception: ${ex.exception?.description ?? ex.text}`);
    }
    return result.result.value as T;
  }

  close(): void {
    if (this.connection.connected) this.connection.close();
  }
}

/** Where Chromium's DevTools server listens: its port and the browser target's WebSocket path. */
export interface DevToolsAddress {
  port: number;
  browserPath: string;
}

/** A headless Chromium with its own throwaway profile, driven over DevTools. */
export class Chromium {
  /** Holds the profile and Chromium's log; removed by stop(). */
  readonly tempDir: string;
  readonly userDataDir: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  private address: DevToolsAddress | undefined;
  /** Sessions opened by the page helpers below; closed by stop(). */
  private readonly sessions = new Set<CdpSession>();

  /** `extraArgs` go after the usual flags (for example `--ignore-certificate-errors` for a test certificate). */
  constructor(executable: string, tempPrefix = 'ws-chromium-', extraArgs: readonly string[] = []) {
    this.tempDir = fs.mkdtempSync(path.join(os.tmpdir(), tempPrefix));
    this.userDataDir = path.join(this.tempDir, 'profile');
    this.logFile = path.join(this.tempDir, 'chromium.log');
    fs.mkdirSync(this.userDataDir);
    // Output goes to a file, not a pipe: a helper process that outlives the browser would keep a
    // pipe open and with it the Jest worker.
    const log = fs.openSync(this.logFile, 'w');
    try {
      this.child = spawn(
        executable,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--disable-dev-shm-usage',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--remote-debugging-port=0',
          `--user-data-dir=${this.userDataDir}`,
          ...extraArgs,
          'about:blank',
        ],
        // Own process group, so a last-resort kill reaches the helper processes as well.
        { detached: true, stdio: ['ignore', log, log] },
      );
    } finally {
      fs.closeSync(log);
    }
  }

  private logTail(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8').slice(-4000);
    } catch {
      return '';
    }
  }

  /** The DevTools port and the browser target's WebSocket path, from DevToolsActivePort. */
  async devTools(): Promise<DevToolsAddress> {
    if (this.address !== undefined) return this.address;
    const file = path.join(this.userDataDir, 'DevToolsActivePort');
    this.address = await waitFor('Chromium to write DevToolsActivePort', () => {
      if (this.child.exitCode !== null) throw new Error(`chromium exited with ${this.child.exitCode}:\n${this.logTail()}`);
      if (!fs.existsSync(file)) return undefined;
      const [portLine, browserPath] = fs.readFileSync(file, 'utf8').split('\n');
      const port = Number(portLine);
      return port > 0 && browserPath ? { port, browserPath } : undefined;
    });
    return this.address;
  }

  private track(session: CdpSession): CdpSession {
    this.sessions.add(session);
    return session;
  }

  /** A session on the page Chromium opened at start (about:blank), with Page and Runtime enabled. */
  async firstPage(): Promise<CdpSession> {
    const { port } = await this.devTools();
    type Target = { type: string; webSocketDebuggerUrl?: string };
    const targets = await waitFor('a page target in /json/list', async () => {
      const list = (await getJson(`http://127.0.0.1:${port}/json/list`)) as Target[];
      return list.some((t) => t.type === 'page' && t.webSocketDebuggerUrl !== undefined) ? list : undefined;
    });
    const page = targets.find((t) => t.type === 'page' && t.webSocketDebuggerUrl !== undefined);
    const session = this.track(await CdpSession.connect(page?.webSocketDebuggerUrl ?? ''));
    await session.send('Page.enable');
    await session.send('Runtime.enable');
    return session;
  }

  /** Opens a new tab (about:blank) and returns a session on it, with Page and Runtime enabled. */
  async newPage(): Promise<CdpSession> {
    const { port, browserPath } = await this.devTools();
    const browser = await CdpSession.connect(`ws://127.0.0.1:${port}${browserPath}`);
    let targetId: string;
    try {
      ({ targetId } = (await browser.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string });
    } finally {
      browser.close();
    }
    const session = this.track(await CdpSession.connect(`ws://127.0.0.1:${port}/devtools/page/${targetId}`));
    await session.send('Page.enable');
    await session.send('Runtime.enable');
    return session;
  }

  /**
   * Closes the sessions, then the browser: Browser.close first, so Chromium stops and reaps its
   * helpers itself (signals leave zombies); SIGTERM, then SIGKILL to its process group, if it will
   * not. Removes the profile.
   */
  async stop(): Promise<void> {
    for (const session of this.sessions) session.close();
    this.sessions.clear();
    const pid = this.child.pid;
    if (pid !== undefined && this.child.exitCode === null && this.child.signalCode === null) {
      if (this.address !== undefined) {
        try {
          const session = await CdpSession.connect(`ws://127.0.0.1:${this.address.port}${this.address.browserPath}`);
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            session.send('Browser.close').catch(() => undefined),
            new Promise((resolve) => (timer = setTimeout(resolve, 2000))),
          ]);
          clearTimeout(timer);
          session.close();
        } catch {
          // fall through to signals
        }
      }
      if (!(await exitWithin(this.child, 5000))) {
        this.child.kill('SIGTERM');
        if (!(await exitWithin(this.child, 5000))) {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            // already gone
          }
          await exitWithin(this.child, 5000);
        }
      }
    }
    fs.rmSync(this.tempDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  }
}
