/**
 * End-to-end: examples/echo-server driven from a real browser (headless Chromium).
 *
 * The page is driven over the Chrome DevTools Protocol, and the CDP connection itself is made with
 * our own WebSocketClient, so this test exercises the client against Chromium's DevTools server
 * and the server against Chromium's WebSocket implementation at once, with no extra dependency.
 *
 * Without Chromium the test is skipped locally (with a message) and fails under CI, where
 * .ci/run installs it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import websocket = require('../../lib/websocket');

type Connection = InstanceType<typeof websocket.connection>;

const ROOT = path.resolve(__dirname, '..', '..');
const SERVER_SCRIPT = path.join(ROOT, 'examples', 'echo-server', 'server.js');
const STEP_TIMEOUT_MS = 20_000;

function findChromium(): string | null {
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

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value other than undefined, or fails with `what` in the message. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = STEP_TIMEOUT_MS): Promise<T> {
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

function getJson(url: string): Promise<unknown> {
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
class CdpSession {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly connection: Connection) {
    connection.on('message', (message) => {
      if (message.type !== 'utf8') return;
      const reply = JSON.parse(message.utf8Data) as CdpReply;
      if (reply.id === undefined) return; // an event; this test polls the page instead
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

/** The example server as a child process; collects its stdout so the test can assert on its log. */
class ExampleServer {
  stdout = '';
  stderr = '';
  readonly child: ChildProcess;

  constructor() {
    this.child = spawn(process.execPath, [SERVER_SCRIPT], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', PERMESSAGE_DEFLATE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
  }

  port(): Promise<number> {
    return waitFor('"Server is listening" from the example server', () => {
      if (this.child.exitCode !== null) {
        throw new Error(`example server exited with ${this.child.exitCode}: ${this.stderr}`);
      }
      const match = /Server is listening on port (\d+)/.exec(this.stdout);
      return match?.[1] !== undefined ? Number(match[1]) : undefined;
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    if (!(await exitWithin(this.child, 5000))) {
      this.child.kill('SIGKILL');
      await exitWithin(this.child, 5000);
    }
  }
}

/** Waits up to `ms` for `child` to exit; true when it did. */
function exitWithin(child: ChildProcess, ms: number): Promise<boolean> {
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

class Chromium {
  /** Holds the profile and Chromium's log; removed by stop(). */
  readonly tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-echo-chromium-'));
  readonly userDataDir = path.join(this.tempDir, 'profile');
  readonly logFile = path.join(this.tempDir, 'chromium.log');
  readonly child: ChildProcess;

  constructor(executable: string) {
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
  devTools(): Promise<{ port: number; browserPath: string }> {
    const file = path.join(this.userDataDir, 'DevToolsActivePort');
    return waitFor('Chromium to write DevToolsActivePort', () => {
      if (this.child.exitCode !== null) throw new Error(`chromium exited with ${this.child.exitCode}:\n${this.logTail()}`);
      if (!fs.existsSync(file)) return undefined;
      const [portLine, browserPath] = fs.readFileSync(file, 'utf8').split('\n');
      const port = Number(portLine);
      return port > 0 && browserPath ? { port, browserPath } : undefined;
    });
  }

  /** Browser.close first: Chromium then stops and reaps its helpers itself (signals leave zombies). */
  async stop(devTools: { port: number; browserPath: string } | undefined): Promise<void> {
    const pid = this.child.pid;
    if (pid !== undefined && this.child.exitCode === null && this.child.signalCode === null) {
      if (devTools !== undefined) {
        try {
          const session = await CdpSession.connect(`ws://127.0.0.1:${devTools.port}${devTools.browserPath}`);
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

const chromiumPath = findChromium();

if (chromiumPath === null) {
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
      'Chromium is missing (/usr/bin/chromium or `chromium` on PATH): the browser test test/browser/echo.test.ts was SKIPPED. ' +
        'Install it with `apt-get install -y chromium` to run it.',
    );
    test.skip('echo example in headless Chromium (skipped: Chromium is missing)', () => undefined);
  }
} else {
  const executable = chromiumPath;

  describe('examples/echo-server in headless Chromium', () => {
    let server: ExampleServer | undefined;
    let browser: Chromium | undefined;
    let cdp: CdpSession | undefined;
    let serverPort = 0;
    let devTools: { port: number; browserPath: string } | undefined;

    beforeAll(async () => {
      server = new ExampleServer();
      browser = new Chromium(executable);
      serverPort = await server.port();
      devTools = await browser.devTools();
      const devToolsPort = devTools.port;
      const targets = (await waitFor('a page target in /json/list', async () => {
        const list = (await getJson(`http://127.0.0.1:${devToolsPort}/json/list`)) as Array<{
          type: string;
          webSocketDebuggerUrl?: string;
        }>;
        return list.some((t) => t.type === 'page' && t.webSocketDebuggerUrl !== undefined) ? list : undefined;
      })) as Array<{ type: string; webSocketDebuggerUrl?: string }>;
      const page = targets.find((t) => t.type === 'page' && t.webSocketDebuggerUrl !== undefined);
      cdp = await CdpSession.connect(page?.webSocketDebuggerUrl ?? '');
      await cdp.send('Page.enable');
      await cdp.send('Runtime.enable');
    }, 60_000);

    afterAll(async () => {
      cdp?.close();
      await browser?.stop(devTools);
      await server?.stop();
    }, 30_000);

    test('text and binary echo, then a close with code 4000 seen by page and server', async () => {
      const page = cdp as CdpSession;
      const srv = server as ExampleServer;
      const pageUrl = `http://127.0.0.1:${serverPort}/`;
      const text = 'Hello from headless Chromium \u2713';
      const reason = 'Done testing \u00e9';

      await page.send('Page.navigate', { url: pageUrl });
      const status = await waitFor('the page to connect (#status open)', async () => {
        const s = await page.evaluate<{ href: string; state: string; text: string } | null>(
          `(() => { const el = document.getElementById('status');
                    return el && { href: location.href, state: el.dataset.state, text: el.textContent }; })()`,
        );
        return s !== null && s.href === pageUrl && s.state === 'open' ? s : undefined;
      });
      expect(status.text).toContain('echo-protocol');

      await page.evaluate(`(() => {
        document.getElementById('message').value = ${JSON.stringify(text)};
        document.getElementById('send').click();
        document.getElementById('send-binary').click();
      })()`);

      const readLog = (): Promise<string[]> =>
        page.evaluate<string[]>(`Array.from(document.querySelectorAll('#log li'), (li) => li.textContent)`);
      const log = await waitFor('both echoes in #log', async () => {
        const lines = await readLog();
        return lines.includes(`echo text: ${text}`) && lines.includes('echo binary: 00 01 7f 80 fe ff') ? lines : undefined;
      });
      expect(log).toContain(`sent text: ${text}`);
      expect(log).toContain('sent binary: 00 01 7f 80 fe ff');

      await page.evaluate(`(() => {
        document.getElementById('close-reason').value = ${JSON.stringify(reason)};
        document.getElementById('close').click();
      })()`);

      const closedLine = await waitFor('the close in #log', async () => {
        const lines = await readLog();
        return lines.find((l) => l.startsWith('closed:'));
      });
      expect(await readLog()).toContain(`closing with code 4000 reason "${reason}"`);
      // The browser reports the code of the close frame it received: WebSocket-Node answers a
      // peer's close with 1000 and no reason, whatever the peer sent (as upstream does).
      expect(closedLine).toBe('closed: code 1000 reason "" clean true');
      expect(await page.evaluate<string>(`document.getElementById('status').dataset.state`)).toBe('closed');

      await waitFor('the server to log the disconnect', () =>
        srv.stdout.includes(`disconnected. Code: 4000 Reason: ${reason}`) ? true : undefined,
      );
      expect(srv.stdout).toContain(`Received Message: ${text}`);
      expect(srv.stdout).toContain('Received Binary Message of 6 bytes');
      expect(srv.stdout).toMatch(/Peer 127\.0\.0\.1 disconnected\. Code: 4000 Reason: /);

      // Chromium offers permessage-deflate and our server (PERMESSAGE_DEFLATE=1, threshold 0) agrees,
      // so every echo above was compressed by us and inflated by the browser, and the reverse.
      const offered = /Sec-WebSocket-Extensions offered: (.*)/.exec(srv.stdout)?.[1];
      expect(offered).toMatch(/^permessage-deflate/);
      expect(srv.stdout).toMatch(/Extensions agreed: permessage-deflate/);
    }, 60_000);
  });
}
