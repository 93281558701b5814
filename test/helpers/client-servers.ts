/**
 * Echo servers the client tests connect to: ours, WebSocket-Node 1.0.35 (`websocket-upstream`) and
 * `ws`, all behaving the same way so one interop test runs against each of them.
 *
 * Protocol of the echo servers: text and binary messages come back unchanged, except a text message
 * `close:<code>:<reason>` which makes the server close with that code and reason. What the server
 * saw of the client's close is reported through `closes`.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { WebSocketServer as WsServer, type WebSocket as WsSocket } from 'ws';
import websocket = require('../../lib/websocket');
import { AsyncQueue, type Tracker } from './client-harness';

const upstream = require('websocket-upstream');

export type ServerKind = 'ours' | 'upstream' | 'ws';

/** The close as the server saw it. */
export interface ServerSawClose {
  code: number;
  reason: string;
}

/** A running echo server. */
export interface EchoServer {
  kind: ServerKind;
  port: number;
  url: string;
  /** The subprotocols each client asked for, in order of arrival. */
  requestedProtocols: AsyncQueue<string[]>;
  /** Each connection's close as the server saw it. */
  closes: AsyncQueue<ServerSawClose>;
  /** Each message the server received (before echoing). */
  received: AsyncQueue<{ text?: string; binary?: Buffer }>;
}

/** Options shared by the three servers. */
export interface EchoOptions {
  /** Answer with the first protocol of this list the client offered (default: the client's first). */
  preferProtocols?: string[];
  /** An https server built from this key/cert instead of plain http. */
  tls?: { key: string; cert: string };
}

function parseCloseCommand(text: string): { code: number; reason: string } | null {
  const match = /^close:(\d+):(.*)$/s.exec(text);
  return match ? { code: Number(match[1]), reason: match[2] ?? '' } : null;
}

function chooseProtocol(offered: string[], prefer: string[] | undefined): string | null {
  if (offered.length === 0) return null;
  if (!prefer) return offered[0] ?? null;
  return prefer.find((p) => offered.includes(p)) ?? null;
}

/** Starts an echo server of `kind` on 127.0.0.1:0. */
export async function startEchoServer(tracker: Tracker, kind: ServerKind, options: EchoOptions = {}): Promise<EchoServer> {
  const requestedProtocols = new AsyncQueue<string[]>();
  const closes = new AsyncQueue<ServerSawClose>();
  const received = new AsyncQueue<{ text?: string; binary?: Buffer }>();
  const httpServer = options.tls
    ? https.createServer({ key: options.tls.key, cert: options.tls.cert })
    : http.createServer((_req, res) => {
        res.writeHead(404);
        res.end();
      });
  const scheme = options.tls ? 'wss' : 'ws';

  if (kind === 'ws') {
    const wss = new WsServer({
      server: httpServer,
      handleProtocols: (set: Set<string>) => chooseProtocol([...set], options.preferProtocols) ?? false,
    });
    tracker.defer(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    wss.on('connection', (ws: WsSocket, req: http.IncomingMessage) => {
      const header = req.headers['sec-websocket-protocol'];
      requestedProtocols.push(header ? header.split(',').map((p) => p.trim()) : []);
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) {
          received.push({ binary: Buffer.from(data) });
          ws.send(data, { binary: true });
          return;
        }
        const text = data.toString('utf8');
        received.push({ text });
        const command = parseCloseCommand(text);
        if (command) ws.close(command.code, command.reason);
        else ws.send(text);
      });
      ws.on('close', (code: number, reason: Buffer) => closes.push({ code, reason: reason.toString('utf8') }));
      ws.on('error', () => undefined);
    });
  } else {
    const Server = kind === 'ours' ? websocket.server : upstream.server;
    const wsServer = new Server({ httpServer, maxReceivedFrameSize: 0x100000, maxReceivedMessageSize: 0x1000000 });
    tracker.defer(() => wsServer.shutDown());
    wsServer.on('request', (request: {
      requestedProtocols: string[];
      origin: string | undefined;
      accept: (protocol: string | null, origin?: string) => any;
    }) => {
      requestedProtocols.push([...request.requestedProtocols]);
      const connection = request.accept(chooseProtocol(request.requestedProtocols, options.preferProtocols), request.origin);
      connection.on('error', () => undefined);
      connection.on('message', (message: { type: string; utf8Data?: string; binaryData?: Buffer }) => {
        if (message.type === 'binary') {
          received.push({ binary: Buffer.from(message.binaryData as Buffer) });
          connection.sendBytes(message.binaryData);
          return;
        }
        const text = message.utf8Data ?? '';
        received.push({ text });
        const command = parseCloseCommand(text);
        if (command) connection.close(command.code, command.reason);
        else connection.sendUTF(text);
      });
      connection.on('close', (code: number, reason: string) => closes.push({ code, reason }));
    });
  }
  const port = await tracker.listen(httpServer);
  return { kind, port, url: `${scheme}://127.0.0.1:${port}/echo`, requestedProtocols, closes, received };
}

type OurRequest = InstanceType<typeof websocket.request>;

/** Our server with a custom 'request' handler (for tests that script the server's side). */
export async function startOurServer(
  tracker: Tracker,
  onRequest: (request: OurRequest) => void,
  config: Record<string, unknown> = {},
): Promise<{ port: number; url: string; wsServer: InstanceType<typeof websocket.server>; httpServer: http.Server }> {
  const httpServer = http.createServer((_req, res) => {
    res.writeHead(404);
    res.end();
  });
  const wsServer = new websocket.server({ httpServer, ...config });
  tracker.defer(() => wsServer.shutDown());
  wsServer.on('request', onRequest);
  const port = await tracker.listen(httpServer);
  return { port, url: `ws://127.0.0.1:${port}/`, wsServer, httpServer };
}
