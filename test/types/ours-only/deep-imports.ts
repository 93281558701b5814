// Deep imports of lib/<Name>, as public code and upstream's own tests write them. @types/websocket has
// no deep paths, so this file is compiled only against ours. Each deep module must be the very same
// class as the root export (assignable both ways), not a look-alike.
import * as http from 'http';
import * as net from 'net';
import * as websocket from 'websocket';
import WebSocketServer = require('websocket/lib/WebSocketServer');
import WebSocketClient = require('websocket/lib/WebSocketClient');
import WebSocketConnection = require('websocket/lib/WebSocketConnection');
import WebSocketRequest = require('websocket/lib/WebSocketRequest');
import WebSocketFrame = require('websocket/lib/WebSocketFrame');
import WebSocketRouter = require('websocket/lib/WebSocketRouter');
import WebSocketRouterRequest = require('websocket/lib/WebSocketRouterRequest');
import W3CWebSocket = require('websocket/lib/W3CWebSocket');
import websocketLib = require('websocket/lib/websocket');
import version = require('websocket/lib/version');
import deprecation = require('websocket/lib/Deprecation');
import utils = require('websocket/lib/utils');
// ESM-style default imports of the same files, with the `.js` suffix.
import ServerFromJs from 'websocket/lib/WebSocketServer.js';
import ConnectionFromJs from 'websocket/lib/WebSocketConnection.js';

const httpServer = http.createServer();

// Same classes as the root exports, in both directions.
const server1: websocket.server = new WebSocketServer({ httpServer });
const server2: WebSocketServer = new websocket.server({ httpServer });
const server3: WebSocketServer = new ServerFromJs({ httpServer, keepalive: false });
const client1: websocket.client = new WebSocketClient({ webSocketVersion: 13 });
const client2: WebSocketClient = new websocket.client();
const router1: websocket.router = new WebSocketRouter({ server: server1 });
const router2: WebSocketRouter = new websocket.router();
const w3c1: websocket.w3cwebsocket = new W3CWebSocket('ws://127.0.0.1:8080/', 'chat');
const w3c2: W3CWebSocket = new websocket.w3cwebsocket('ws://127.0.0.1:8080/');
console.log(server1, server2, server3, client1, client2, router1, router2, w3c1, w3c2);

export function sameConnection(a: websocket.connection): WebSocketConnection {
  const b: WebSocketConnection = a;
  const c: websocket.connection = b;
  const d: ConnectionFromJs = c;
  return d;
}
export function sameRequest(a: websocket.request): websocket.request {
  const b: WebSocketRequest = a;
  return b;
}

// The CLOSE_REASON constants through the deep path (a common reason for deep-importing).
export const codes: number[] = [
  WebSocketConnection.CLOSE_REASON_NORMAL,
  WebSocketConnection.CLOSE_REASON_GOING_AWAY,
  WebSocketConnection.CLOSE_REASON_PROTOCOL_ERROR,
  WebSocketConnection.CLOSE_REASON_UNPROCESSABLE_INPUT,
  WebSocketConnection.CLOSE_REASON_RESERVED,
  WebSocketConnection.CLOSE_REASON_NOT_PROVIDED,
  WebSocketConnection.CLOSE_REASON_ABNORMAL,
  WebSocketConnection.CLOSE_REASON_INVALID_DATA,
  WebSocketConnection.CLOSE_REASON_POLICY_VIOLATION,
  WebSocketConnection.CLOSE_REASON_MESSAGE_TOO_BIG,
  WebSocketConnection.CLOSE_REASON_EXTENSION_REQUIRED,
  WebSocketConnection.CLOSE_REASON_INTERNAL_SERVER_ERROR,
  WebSocketConnection.CLOSE_REASON_TLS_HANDSHAKE_FAILED,
  ConnectionFromJs.CLOSE_REASON_NORMAL,
];
export const normalText: string | undefined = WebSocketConnection.CLOSE_DESCRIPTIONS[1000];

// Upstream's unit tests: a connection over a bare socket, and frames built with the real
// constructor (maskBytes, frameHeader, config) and serialised.
export function unitTestStyle(socket: net.Socket): Buffer {
  const conn = new WebSocketConnection(socket, [], 'chat', true, { closeTimeout: 100 });
  conn._addSocketEventListeners();
  const frame = new WebSocketFrame(Buffer.alloc(4), Buffer.alloc(10), { maxReceivedFrameSize: 0x10000 });
  frame.fin = true;
  frame.opcode = 0x09;
  frame.binaryPayload = Buffer.from('ping');
  const asRoot: websocket.frame = frame;
  conn.sendFrame(asRoot);
  return frame.toBuffer(true);
}

// The router request class that only the deep path exposes.
export function routed(request: websocket.request): websocket.IRouterRequest {
  const rr = new WebSocketRouterRequest(request, 'chat');
  const asInterface: websocket.IRouterRequest = rr;
  console.log(rr.protocol, rr.origin, rr.resource, rr.webSocketRequest === request);
  return asInterface;
}

// lib/websocket is the object require('websocket') re-exports.
export const same: boolean[] = [
  websocketLib.server === websocket.server,
  websocketLib.client === websocket.client,
  websocketLib.router === websocket.router,
  websocketLib.frame === websocket.frame,
  websocketLib.request === websocket.request,
  websocketLib.connection === websocket.connection,
  websocketLib.w3cwebsocket === websocket.w3cwebsocket,
  websocketLib.deprecation === websocket.deprecation,
  websocketLib.version === websocket.version,
];

// The small helper modules.
export const v: string = version;
deprecation.disableWarnings = true;
deprecation.warn('x');
export const scratch: Buffer = utils.bufferAllocUnsafe(16);
export const fromString: Buffer = utils.bufferFromString('hello', 'utf8');
