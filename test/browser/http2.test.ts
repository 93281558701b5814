/**
 * RFC 8441 end to end in a real browser: headless Chromium loads a page over HTTP/2 (TLS, a
 * certificate made at test time) from an `http2.createSecureServer({ allowHTTP1: true })` with our
 * WebSocketServer mounted, and the page's `wss:` WebSocket must ride that same HTTP/2 connection:
 * the server sees it as an extended CONNECT stream on the very session that served the page. Text,
 * binary, and the close code and reason are checked on both sides. With the setting withheld, the
 * browser falls back to an HTTP/1.1 upgrade on another connection.
 *
 * Without Chromium the test is skipped locally (with a message) and fails under CI.
 */
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import websocket = require('../../lib/websocket');
import { CdpSession, Chromium, chromiumTests, waitFor } from '../helpers/chromium';
import { selfSignedCertificate } from '../helpers/client-harness';
import type { IMessage } from '../../lib/public-types';

type Connection = InstanceType<typeof websocket.connection>;
type Request = InstanceType<typeof websocket.request>;

/** The page: opens a WebSocket to its own origin, echoes a text and a binary message, then closes with 4001. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>h2 websocket</title><script>
window.results = { events: [] };
const ws = new WebSocket('wss://' + location.host + '/echo', 'echo');
ws.binaryType = 'arraybuffer';
ws.onopen = () => { results.events.push('open ' + ws.protocol); ws.send('héllo h2'); ws.send(new Uint8Array([0, 1, 127, 128, 255])); };
ws.onmessage = (e) => {
  results.events.push(typeof e.data === 'string' ? 'text ' + e.data : 'binary ' + Array.from(new Uint8Array(e.data)).join(','));
  if (results.events.length === 3) ws.close(4001, 'bye h2');
};
ws.onclose = (e) => { results.events.push('close ' + e.code + ' ' + e.reason + ' ' + e.wasClean); };
</script>`;

interface Served {
  server: http2.Http2SecureServer;
  port: number;
  /** The session of each page load. */
  pageSessions: http2.ServerHttp2Session[];
  requests: Request[];
  /** The HTTP/2 session each WebSocket request came on (undefined over HTTP/1.1), read on arrival. */
  requestSessions: Array<http2.ServerHttp2Session | undefined>;
  /** What the server's connection saw: messages and its close. */
  log: string[];
}

async function serve(enableConnectProtocol: boolean): Promise<Served> {
  const tls = selfSignedCertificate().certificate;
  if (tls === null) throw new Error('openssl is needed for the test certificate');
  const server = http2.createSecureServer({ key: tls.key, cert: tls.cert, allowHTTP1: true });
  const served: Served = { server, port: 0, pageSessions: [], requests: [], requestSessions: [], log: [] };
  server.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    if (req.url !== '/') {
      res.writeHead(404).end();
      return;
    }
    if (req.stream !== undefined) served.pageSessions.push(req.stream.session as http2.ServerHttp2Session);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
  });
  const ws = new websocket.server({ httpServer: server as unknown as import('node:http').Server, keepalive: false });
  // RFC 8441 §3 lets a server withhold the setting; then browsers upgrade over HTTP/1.1.
  if (!enableConnectProtocol) server.updateSettings({ enableConnectProtocol: false });
  ws.on('request', (request: Request) => {
    served.requests.push(request);
    const stream = (request.httpRequest as unknown as { stream?: http2.ServerHttp2Stream }).stream;
    served.requestSessions.push(stream?.session as http2.ServerHttp2Session | undefined);
    const connection: Connection = request.accept('echo', request.origin);
    connection.on('message', (message: IMessage) => {
      if (message.type === 'utf8') {
        served.log.push(`text ${message.utf8Data}`);
        connection.sendUTF(message.utf8Data as string);
      } else {
        served.log.push(`binary ${[...(message.binaryData as Buffer)].join(',')}`);
        connection.sendBytes(message.binaryData as Buffer);
      }
    });
    connection.on('close', (code: number, reason: string) => served.log.push(`close ${code} ${reason}`));
    connection.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  served.port = (server.address() as AddressInfo).port;
  return served;
}

async function stop(served: Served | undefined): Promise<void> {
  if (served === undefined) return;
  for (const session of served.pageSessions) session.destroy();
  await new Promise<void>((resolve) => served.server.close(() => resolve()));
}

async function runPage(page: CdpSession, port: number): Promise<string[]> {
  await page.send('Page.navigate', { url: `https://127.0.0.1:${port}/` });
  return waitFor('the page to see its WebSocket close', async () => {
    const events = await page.evaluate<string[] | null>(`window.results ? window.results.events : null`);
    return events !== null && events.some((e) => e.startsWith('close')) ? events : undefined;
  });
}

chromiumTests('RFC 8441 in headless Chromium', 'test/browser/http2.test.ts', (executable) => {
  let browser: Chromium | undefined;
  let served: Served | undefined;

  afterEach(async () => {
    await browser?.stop();
    browser = undefined;
    await stop(served);
    served = undefined;
  }, 30_000);

  test('the page is served over HTTP/2 and its wss: WebSocket is a stream on the same connection', async () => {
    served = await serve(true);
    browser = new Chromium(executable, 'ws-h2-chromium-', ['--ignore-certificate-errors']);
    const events = await runPage(await browser.firstPage(), served.port);
    // The page sees the close frame it got back: WebSocket-Node answers a peer's close with 1000 and
    // no reason (as upstream does); the server saw the page's 4001 (below).
    expect(events).toEqual(['open echo', 'text héllo h2', 'binary 0,1,127,128,255', 'close 1000  true']);
    expect(served.requests).toHaveLength(1);
    const request = served.requests[0]!;
    expect(request.httpRequest.httpVersion).toBe('2.0');
    expect(request.httpRequest.method).toBe('CONNECT');
    // The same HTTP/2 connection: the CONNECT stream belongs to the session that served the page.
    expect(served.pageSessions).toHaveLength(1);
    expect(served.requestSessions[0]).toBeDefined();
    expect(served.requestSessions[0]).toBe(served.pageSessions[0]);
    await waitFor('the server to see the close', () => (served!.log.some((l) => l.startsWith('close')) ? true : undefined));
    expect(served.log).toEqual(['text héllo h2', 'binary 0,1,127,128,255', 'close 4001 bye h2']);
  }, 60_000);

  test('without SETTINGS_ENABLE_CONNECT_PROTOCOL the browser upgrades over HTTP/1.1 instead', async () => {
    served = await serve(false);
    browser = new Chromium(executable, 'ws-h2-chromium-', ['--ignore-certificate-errors']);
    const events = await runPage(await browser.firstPage(), served.port);
    expect(events).toEqual(['open echo', 'text héllo h2', 'binary 0,1,127,128,255', 'close 1000  true']);
    expect(served.pageSessions).toHaveLength(1);
    expect(served.requests).toHaveLength(1);
    expect(served.requests[0]!.httpRequest.httpVersion).toBe('1.1');
    await waitFor('the server to see the close', () => (served!.log.some((l) => l.startsWith('close')) ? true : undefined));
    expect(served.log).toEqual(['text héllo h2', 'binary 0,1,127,128,255', 'close 4001 bye h2']);
  }, 60_000);
});
