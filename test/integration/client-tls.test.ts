/**
 * wss:// through WebSocketClient and W3CWebSocket against our server on an https server with a
 * self-signed certificate made at test time by the openssl CLI.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import websocket = require('../../lib/websocket');
import { Tracker, isError, rawUpgradeServer, selfSignedCertificate, waitEvent, withTimeout } from '../helpers/client-harness';
import { startEchoServer } from '../helpers/client-servers';

const WebSocketClient = websocket.client;
const W3CWebSocket = websocket.w3cwebsocket;
type Connection = InstanceType<typeof websocket.connection>;

const tracker = new Tracker();
afterEach(() => tracker.cleanup());

const { certificate, reason } = selfSignedCertificate();
if (!certificate) {
  // Printed so a skipped run says why instead of passing silently.
  console.warn(`client-tls tests skipped: ${reason}`);
}
const describeTls = certificate ? describe : describe.skip;

describeTls('WebSocketClient over TLS', () => {
  const tls = certificate!;

  async function echoOverTls(client: InstanceType<typeof WebSocketClient>, url: string): Promise<void> {
    client.connect(url);
    const [connection] = await waitEvent<[Connection]>(client, 'connect');
    tracker.defer(() => connection.drop());
    connection.sendUTF('over tls');
    const [message] = await waitEvent<[{ type: string; utf8Data: string }]>(connection, 'message');
    expect(message).toEqual({ type: 'utf8', utf8Data: 'over tls' });
    connection.sendBytes(Buffer.from([0, 1, 2, 255]));
    const [binary] = await waitEvent<[{ type: string; binaryData: Buffer }]>(connection, 'message');
    expect(binary.binaryData).toEqual(Buffer.from([0, 1, 2, 255]));
    connection.close(4000, 'tls done');
    const [code, description] = await waitEvent<[number, string]>(connection, 'close');
    expect([code, description]).toEqual([4000, 'tls done']);
  }

  test('tlsOptions.ca trusts the self-signed certificate', async () => {
    const server = await startEchoServer(tracker, 'ours', { tls });
    const client = new WebSocketClient({ tlsOptions: { ca: tls.cert } });
    expect(server.url.startsWith('wss://')).toBe(true);
    await echoOverTls(client, server.url);
    expect(await server.closes.next()).toEqual({ code: 4000, reason: 'tls done' });
  });

  test('tlsOptions.rejectUnauthorized false connects too', async () => {
    const server = await startEchoServer(tracker, 'ours', { tls });
    const client = new WebSocketClient({ tlsOptions: { rejectUnauthorized: false } });
    await echoOverTls(client, server.url);
  });

  test('https: URLs connect in plain text, as with WebSocket-Node (secure false)', async () => {
    const server = await startEchoServer(tracker, 'ours');
    const client = new WebSocketClient();
    await echoOverTls(client, `https://127.0.0.1:${server.port}/echo`);
    expect(client.secure).toBe(false);
  });

  test('without ca or rejectUnauthorized the certificate is refused: connectFailed with the TLS error', async () => {
    const server = await startEchoServer(tracker, 'ours', { tls });
    const client = new WebSocketClient();
    const connected = jest.fn();
    client.on('connect', connected);
    client.connect(server.url);
    const [error] = await waitEvent<[NodeJS.ErrnoException]>(client, 'connectFailed');
    expect(isError(error)).toBe(true);
    expect(error.code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
    expect(connected).not.toHaveBeenCalled();
  });

  test('wss:// to a plain http server fails with connectFailed', async () => {
    const { port } = await rawUpgradeServer(tracker);
    const client = new WebSocketClient({ tlsOptions: { rejectUnauthorized: false } });
    client.connect(`wss://127.0.0.1:${port}/`);
    const [error] = await waitEvent<[Error]>(client, 'connectFailed');
    expect(isError(error)).toBe(true);
  });

  test('tlsOptions.headers are sent on wss://, below the user headers and the library headers', async () => {
    const httpsServer = https.createServer({ key: tls.key, cert: tls.cert });
    const seen = new Promise<http.IncomingHttpHeaders>((resolve) => {
      httpsServer.on('upgrade', (request: http.IncomingMessage, socket: import('node:net').Socket) => {
        resolve(request.headers);
        socket.destroy();
      });
    });
    const port = await tracker.listen(httpsServer);
    const client = new WebSocketClient({
      tlsOptions: {
        ca: tls.cert,
        headers: { 'X-Tls-Header': 'from-tls', 'X-Both': 'from-tls', 'Sec-WebSocket-Version': '99' },
      },
    });
    client.on('connectFailed', () => undefined);
    client.connect(`wss://127.0.0.1:${port}/`, null, null, { 'X-Both': 'from-user' });
    const headers = await withTimeout(seen, 'the upgrade request');
    expect(headers['x-tls-header']).toBe('from-tls');
    expect(headers['x-both']).toBe('from-user');
    expect(headers['sec-websocket-version']).toBe('13');
  });

  test('tlsOptions cannot redirect the request (hostname, port, path, method are forced)', async () => {
    const server = await startEchoServer(tracker, 'ours', { tls });
    const client = new WebSocketClient({
      tlsOptions: { ca: tls.cert, hostname: 'example.invalid', port: 1, path: '/nope', method: 'POST' } as https.RequestOptions,
    });
    client.connect(server.url);
    const [connection] = await waitEvent<[Connection]>(client, 'connect');
    tracker.defer(() => connection.drop());
    expect(connection.connected).toBe(true);
  });

  test('W3CWebSocket over wss:// with clientConfig.tlsOptions', async () => {
    const server = await startEchoServer(tracker, 'ours', { tls });
    const ws = new W3CWebSocket(server.url, undefined, undefined, undefined, undefined, { tlsOptions: { ca: tls.cert } });
    tracker.defer(() => ws.close());
    const data = await withTimeout(
      new Promise<unknown>((resolve, reject) => {
        ws.onopen = () => ws.send('w3c over tls');
        ws.onmessage = (event) => resolve(event['data']);
        ws.onerror = () => reject(new Error('W3CWebSocket failed to connect over TLS'));
      }),
      'the echo',
    );
    expect(data).toBe('w3c over tls');
  });
});
