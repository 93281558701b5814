// Path/protocol routing, `import = require` style.
// Covers: router, IRouterConfig, IRouterRequest (fields, accept/reject, events), IRouterHandler.
// IRouterRequest.accept is called only in the shapes that also work at runtime, where its real
// parameters are (origin, cookies): see ours-only/runtime-extras.ts for the cookie form.
import http = require('http');
import WebSocket = require('websocket');
import { expectType, notAny } from '../helpers';

const httpServer = http.createServer();
const wsServer = new WebSocket.server({ httpServer, autoAcceptConnections: false });

const routerConfig: WebSocket.IRouterConfig = { server: wsServer };
export const router = new WebSocket.router(routerConfig);

// Constructed bare, attached and detached by hand.
const spare = new WebSocket.router();
spare.attachServer(wsServer);
spare.detachServer();

router.mount('/chat', 'chat', (request) => {
  notAny(request);
  const r: WebSocket.IRouterRequest = request;

  const underlying: WebSocket.request = r.webSocketRequest;
  const protocol: string | null = r.protocol;
  const origin: string = r.origin;
  const resource: string = r.resource;
  const pathname: string | null = r.resourceURL.pathname;
  const room = r.resourceURL.query['room'];
  const cookieHeader = r.httpRequest.headers.cookie;
  const remoteAddress: string = r.remoteAddress;
  const version: number = r.webSocketVersion;
  const extensionCount: number = r.requestedExtensions.length;
  const session = r.cookies.find((c: WebSocket.ICookie) => c.name === 'session');
  console.log(underlying.key, protocol, resource, pathname, room, cookieHeader, remoteAddress, version, extensionCount);

  if (!session || origin !== 'https://example.com') {
    r.reject(403, 'Forbidden');
    return;
  }

  r.on('requestAccepted', (connection) => {
    notAny(connection);
    expectType<WebSocket.connection>(connection);
  });
  r.on('requestRejected', (rejected) => {
    notAny(rejected);
    expectType<WebSocket.IRouterRequest>(rejected);
  });
  r.addListener('requestAccepted', (connection: WebSocket.connection) => connection.remoteAddress);
  r.addListener('requestRejected', (rejected: WebSocket.IRouterRequest) => rejected.resource);

  // Upstream's router example: the single argument is the origin.
  const connection: WebSocket.connection = r.accept(r.origin);
  connection.on('message', (message) => {
    if (message.type === 'utf8') connection.sendUTF(message.utf8Data);
  });
});

// A wildcard path with a protocol, a RegExp path with no protocol, and the bare reject/accept forms.
router.mount('*', 'echo-protocol', (request: WebSocket.IRouterRequest) => {
  const connection = request.accept();
  connection.on('message', (message) => {
    if (message.type === 'binary') connection.sendBytes(message.binaryData);
  });
});
router.mount(/^\/rooms\/\d+$/, null, (request) => {
  if (request.resource.length > 100) {
    request.reject();
  } else {
    request.reject(404);
  }
});

export function inspect(): string[] {
  const handlers: WebSocket.IRouterHandler[] = router.handlers;
  const described = handlers.map((h) => {
    const pathString: string = h.pathString;
    const protocol: string = h.protocol;
    const callback: (request: WebSocket.IRouterRequest) => void = h.callback;
    return `${pathString} ${protocol} ${typeof callback}`;
  });
  const index: number = router.findHandlerIndex('/chat', 'chat');
  const re: RegExp = router.pathToRegExp('/chat');
  console.log(index, re.source);
  return described;
}

export function teardown(): void {
  router.unmount('/chat', 'chat');
  router.unmount('*', 'echo-protocol');
  router.detachServer();
}

// Dispatching a request the server handed over by hand.
wsServer.on('request', (request) => {
  if (request.resource.startsWith('/routed/')) {
    router.handleRequest(request);
  }
});
