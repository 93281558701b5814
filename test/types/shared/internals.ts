// Lower-level code against @types/websocket: constants, deprecation/version, hand-routed upgrades,
// connections built directly over a socket (as upstream's own tests do), frames and the buffer list,
// and the underscore fields @types declares.
// Covers: CLOSE_REASON_* (all eleven @types declares), CLOSE_DESCRIPTIONS, deprecation, version,
// request and connection constructors, IExtension, IBufferList, frame fields, w3cwebsocket internals.
// The member @types declares but the runtime lacks (router.pathToRegEx) is deliberately not used.
import * as http from 'http';
import * as net from 'net';
import * as ws from 'websocket';
import { expectType } from '../helpers';

export const closeCodes: Record<string, number> = {
  normal: ws.connection.CLOSE_REASON_NORMAL,
  goingAway: ws.connection.CLOSE_REASON_GOING_AWAY,
  protocolError: ws.connection.CLOSE_REASON_PROTOCOL_ERROR,
  unprocessable: ws.connection.CLOSE_REASON_UNPROCESSABLE_INPUT,
  reserved: ws.connection.CLOSE_REASON_RESERVED,
  notProvided: ws.connection.CLOSE_REASON_NOT_PROVIDED,
  abnormal: ws.connection.CLOSE_REASON_ABNORMAL,
  invalidData: ws.connection.CLOSE_REASON_INVALID_DATA,
  policyViolation: ws.connection.CLOSE_REASON_POLICY_VIOLATION,
  messageTooBig: ws.connection.CLOSE_REASON_MESSAGE_TOO_BIG,
  extensionRequired: ws.connection.CLOSE_REASON_EXTENSION_REQUIRED,
};

export function describeClose(code: number): string {
  const text: string | undefined = ws.connection.CLOSE_DESCRIPTIONS[code];
  return text || `code ${code}`;
}

// deprecation and version.
ws.deprecation.disableWarnings = true;
const warnings: { [name: string]: string } = ws.deprecation.deprecationWarningMap;
ws.deprecation.warn('someOldApi');
export const libraryVersion: string = ws.version;
console.log(warnings, libraryVersion.split('.').map(Number));

// Routing upgrades by hand: one http server, WebSocket only under /ws.
const httpServer = http.createServer();
const wsServer = new ws.server({ httpServer: http.createServer(), autoAcceptConnections: false });
httpServer.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
  if (req.url === '/ws') {
    wsServer.handleUpgrade(req, socket);
  } else {
    socket.destroy();
  }
});

// Or building the request yourself from the upgrade event, as upstream's docs allow.
export function manualRequest(req: http.IncomingMessage, socket: net.Socket): ws.connection | undefined {
  const config: ws.IServerConfig = { httpServer, maxReceivedFrameSize: 0x10000 };
  const request = new ws.request(socket, req, config);
  try {
    request.readHandshake();
  } catch (e) {
    request.reject(400, String(e));
    return undefined;
  }
  const cookies = request.parseCookies('a=1; b=2');
  console.log(cookies, request.parseExtensions('permessage-deflate'));
  const accepted = request.accept(request.requestedProtocols[0], request.origin);
  wsServer.handleRequestAccepted(accepted);
  return accepted;
}

// A connection over a socket you already have (upstream's unit tests do exactly this).
export function rawConnection(socket: net.Socket): ws.connection {
  const none: ws.IExtension[] = [];
  const deflate: ws.IExtension = { name: 'permessage-deflate', value: 'client_max_window_bits' };
  console.log(deflate.name, deflate.value);
  const config: ws.IConfig = { maxReceivedFrameSize: 0x10000, closeTimeout: 1000, assembleFragments: true };
  const conn = new ws.connection(socket, none, 'chat', false, config);
  conn._addSocketEventListeners();

  const extensions: ws.IExtension[] = conn.extensions;
  const masked: boolean = conn.maskOutgoingPackets;
  const state: string = conn.state;
  const waiting: boolean = conn.waitingForCloseResponse;
  const pingListeners: number = conn._pingListenerCount;
  const full: boolean = conn.outputBufferFull;
  const paused: boolean = conn.inputPaused;
  console.log(extensions.length, masked, state, waiting, pingListeners, full, paused);

  // Feed bytes that arrived before the listeners were attached.
  conn.handleSocketData(Buffer.from([0x81, 0x00]));

  // The buffer list a frame parses from. The connection's own parser internals (`bufferList`,
  // `currentFrame`, `frameQueue`) are not part of the bundled types: a non-goal, see test/types/README.md.
  const list = {} as ws.IBufferList;
  const pending: number = list.length;
  const current: ws.frame = new ws.frame();
  const done: boolean = current.addData(list);
  console.log(pending, done, current.parseState, current.maxReceivedFrameSize);
  list.on('advance', (n: number) => console.log('advanced', n));
  list.on('write', (buf: Buffer) => console.log('wrote', buf.length));
  list.addListener('advance', (n) => expectType<number>(n));
  list.addListener('write', (buf) => expectType<Buffer>(buf));

  // Frame scratch buffers and config.
  const maskBytes: Buffer = current.maskBytes;
  const header: Buffer = current.frameHeader;
  const frameConfig: ws.IConfig = current.config;
  console.log(maskBytes.length, header.length, frameConfig.maxReceivedFrameSize);
  return conn;
}

export function serverInternals(conn: ws.connection, req: ws.request): void {
  wsServer.handleConnectionClose(conn, ws.connection.CLOSE_REASON_NORMAL, 'done');
  wsServer.handleRequestResolved(req);
  conn.sendCloseFrame(ws.connection.CLOSE_REASON_GOING_AWAY, 'restarting', (err) => err && console.error(err));
  conn.setKeepaliveTimer();
  conn.clearKeepaliveTimer();
}

// The fields @types declares on w3cwebsocket for its internals.
export function w3cInternals(socket: ws.w3cwebsocket): void {
  const inner: ws.client = socket._client;
  const conn: ws.connection | undefined = socket._connection;
  if (conn) conn.drop();
  inner.abort();
  expectType<string>(socket._url);
  expectType<number>(socket._readyState);
}

// Callback and override shapes exactly as @types declares them: fragmentAndSend's callback takes a
// required Error, and a subclass may override sendFrame with a void method.
export function sendFragmented(conn: ws.connection, frame: ws.frame): void {
  conn.fragmentAndSend(frame, (err: Error) => console.error(err.message));
}

export class QuietConnection extends ws.connection {
  override sendFrame(frame: ws.frame, cb?: (err?: Error) => void): void {
    super.sendFrame(frame, cb);
  }
}
