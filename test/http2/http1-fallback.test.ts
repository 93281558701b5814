/**
 * An Http2SecureServer with `allowHTTP1: true` serves WebSockets both ways at once: HTTP/1.1
 * upgrades (Node emits 'upgrade' on such a server for its HTTP/1.1 connections) through the
 * existing path, RFC 8441 extended CONNECTs through the 'stream' path. Without allowHTTP1 the same
 * server serves only the latter.
 */
import * as https from 'node:https';
import { text } from '../helpers/frames';
import { cleanup, connectSession, nextEvent, onCleanup, openWebSocket, startH2Server, websocket, type WebSocketConnection } from './helpers';

afterEach(cleanup);

type Message = { type: string; utf8Data?: string; binaryData?: Buffer };

/** An echo server on an Http2SecureServer with allowHTTP1 and an HTTP 'request' handler. */
async function dualServer(): Promise<Awaited<ReturnType<typeof startH2Server>> & { serverConnections: WebSocketConnection[] }> {
  const h2 = await startH2Server('tls+http1', {}, (req, res) => res.end(`page over HTTP/${req.httpVersion}`));
  const serverConnections: WebSocketConnection[] = [];
  h2.ws.on('request', (request) => {
    const connection = request.accept('echo', request.origin);
    serverConnections.push(connection);
    connection.on('message', (message) => {
      if (message.type === 'utf8') connection.sendUTF(`${request.httpRequest.httpVersion}: ${message.utf8Data}`);
    });
  });
  return { ...h2, serverConnections };
}

test('HTTP/1.1 upgrade over TLS (WebSocketClient, wss) and an RFC 8441 WebSocket on the same server', async () => {
  const h2 = await dualServer();
  const client = new websocket.client({ tlsOptions: { rejectUnauthorized: false } });
  client.connect(`wss://127.0.0.1:${h2.port}/h1`, 'echo');
  const [h1Connection] = await nextEvent<[WebSocketConnection]>(client, 'connect');
  onCleanup(() => h1Connection.drop());
  h1Connection.sendUTF('one');
  const [reply] = await nextEvent<[Message]>(h1Connection, 'message');
  expect(reply).toEqual({ type: 'utf8', utf8Data: '1.1: one' });
  // On the server, the HTTP/1.1 connection runs over the TLS socket, not over a stream.
  expect('session' in h2.serverConnections[0]!.socket).toBe(false);

  const session = await connectSession(h2.origin);
  const ws = await openWebSocket(session, '/h2', { 'sec-websocket-protocol': 'echo' });
  ws.send(text('two'));
  expect((await ws.next('the h2 echo')).payload.toString()).toBe('2.0: two');
  expect('session' in h2.serverConnections[1]!.socket).toBe(true);
  expect(h2.ws.connections).toHaveLength(2);

  h1Connection.close(1000, 'bye');
  const [code] = await nextEvent<[number, string]>(h1Connection, 'close');
  expect(code).toBe(1000);
  ws.send(text('three'));
  expect((await ws.next('the h2 echo after the h1 close')).payload.toString()).toBe('2.0: three');
});

test('HTTP/1.1 pages still reach the application on an allowHTTP1 server', async () => {
  const h2 = await dualServer();
  const body = await new Promise<string>((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port: h2.port, path: '/', rejectUnauthorized: false, servername: 'localhost', agent: false }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (data += chunk));
        res.on('end', () => resolve(data));
      })
      .on('error', reject);
  });
  expect(body).toBe('page over HTTP/1.1');
});

test('an HTTP/1.1 CONNECT nobody handles still has its socket destroyed, as Node does', async () => {
  const h2 = await dualServer();
  const outcome = await new Promise<string>((resolve) => {
    setTimeout(() => resolve('no answer'), 2000).unref();
    const req = https.request({ host: '127.0.0.1', port: h2.port, method: 'CONNECT', path: 'example.test:443', rejectUnauthorized: false, servername: 'localhost', agent: false });
    req.on('connect', () => resolve('connect'));
    req.on('response', (res) => resolve(`response ${res.statusCode}`));
    req.on('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code}`));
    req.end();
  });
  expect(outcome).toBe('error ECONNRESET');
});
