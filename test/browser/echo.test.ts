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
import * as path from 'node:path';
import { CdpSession, Chromium, chromiumTests, exitWithin, waitFor } from '../helpers/chromium';

const ROOT = path.resolve(__dirname, '..', '..');
const SERVER_SCRIPT = path.join(ROOT, 'examples', 'echo-server', 'server.js');

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

chromiumTests('examples/echo-server in headless Chromium', 'test/browser/echo.test.ts', (executable) => {
  let server: ExampleServer | undefined;
  let browser: Chromium | undefined;
  let cdp: CdpSession | undefined;
  let serverPort = 0;

  beforeAll(async () => {
    server = new ExampleServer();
    browser = new Chromium(executable, 'ws-echo-chromium-');
    serverPort = await server.port();
    cdp = await browser.firstPage();
  }, 60_000);

  afterAll(async () => {
    cdp?.close();
    await browser?.stop();
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
