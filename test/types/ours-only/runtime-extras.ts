// What the runtime really offers beyond @types/websocket 1.0.10 (reference §14.2). Our declarations
// accept these as well as the @types shapes in ../shared, so this file is compiled only against ours.
import * as http from 'http';
import * as websocket from 'websocket';
import { notAny } from '../helpers';

const httpServer = http.createServer();

// parseCookies / parseExtensions exist since 1.0.33.
const wsServer = new websocket.server({ httpServer, parseCookies: false, parseExtensions: false });
const config: websocket.IServerConfig = { httpServer, parseCookies: true, parseExtensions: true };
console.log(config);

// 'upgradeError' is emitted when a handshake fails validation.
wsServer.on('upgradeError', (error) => {
  notAny(error);
  console.error('bad handshake:', error.message);
});
wsServer.addListener('upgradeError', (error: Error) => console.error(error));

// 1011 and 1015 are defined at runtime.
export const extraCodes: number[] = [
  websocket.connection.CLOSE_REASON_INTERNAL_SERVER_ERROR,
  websocket.connection.CLOSE_REASON_TLS_HANDSHAKE_FAILED,
];
export function fail(conn: websocket.connection): void {
  conn.close(websocket.connection.CLOSE_REASON_INTERNAL_SERVER_ERROR, 'Unexpected condition');
}

// The router request's real signatures: accept(origin, cookies) and reject(status, reason, extraHeaders).
const router = new websocket.router({ server: wsServer });
router.mount('/chat', 'chat', (request) => {
  const cookies: websocket.ICookie[] = [{ name: 'seen', value: '1', httponly: true }];
  if (request.cookies.length === 0) {
    request.reject(401, 'Login required', { 'WWW-Authenticate': 'Bearer' });
    return;
  }
  const conn: websocket.connection = request.accept(request.origin, cookies);
  conn.sendUTF('welcome');
});

// W3CWebSocket has EventTarget-style listener methods (from yaeti) as well as the on* handlers.
export function listen(ws: websocket.w3cwebsocket): void {
  const onOpen = (): void => console.log('open');
  ws.addEventListener('open', onOpen);
  ws.removeEventListener('open', onOpen);
  ws.addEventListener('message', (event) => {
    console.log(event.data);
  });
  ws.addEventListener('close', (event) => {
    console.log(event.code, event.reason, event.wasClean);
  });
  ws.addEventListener('error', () => console.log('error'));
  console.log(typeof ws.dispatchEvent);
}

// The runtime passes every on* handler an event, so a handler may take one, contextually typed
// (@types' onopen takes none); and `null` detaches a handler, as in browsers.
export function richHandlers(ws: websocket.w3cwebsocket): void {
  ws.onopen = (event) => {
    notAny(event);
    console.log(event.type);
  };
  ws.onclose = (event) => {
    notAny(event);
    console.log(event.code, event.reason, event.wasClean);
  };
  ws.onmessage = (event) => {
    notAny(event);
    console.log(event.data);
  };
  ws.onerror = (event) => {
    notAny(event);
    console.log(event.message);
  };
  ws.onopen = null;
  ws.onclose = null;
  ws.onmessage = null;
  ws.onerror = null;
}
