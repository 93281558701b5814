// Members read into variables typed exactly as @types/websocket 1.0.10 types them, and values of those
// types written back, for the non-W3C classes and interfaces (w3c.ts has W3CWebSocket's). Assigning
// a call's result or passing a handler only checks one direction; code that stores a member, passes it
// on to a function typed with @types' names, or fills it in from such a value checks both, and
// compiled against @types, so it must compile against ours.
// Members where @types contradicts the runtime are left out here and pinned to the runtime's type in
// ours-only/runtime-truth.ts (see docs/compat.md, Types): frame.mask, connection.assembleFragments,
// router handler `path`, request.parseExtensions()/parseCookies() results.
import * as http from 'http';
import * as net from 'net';
import * as url from 'url';
import * as websocket from 'websocket';

// ICookie, every member, both ways (the runtime reads maxage as a number of seconds).
export function cookieMembers(cookie: websocket.ICookie, from: websocket.ICookie): void {
  const name: string = cookie.name;
  const value: string = cookie.value;
  const path: string | undefined = cookie.path;
  const domain: string | undefined = cookie.domain;
  const expires: Date | undefined = cookie.expires;
  const maxage: number | undefined = cookie.maxage;
  const secure: boolean | undefined = cookie.secure;
  const httponly: boolean | undefined = cookie.httponly;
  if (cookie.maxage !== undefined) {
    const seconds: number = cookie.maxage;
    console.log(seconds.toFixed(0));
  }
  cookie.name = from.name;
  cookie.value = from.value;
  cookie.path = from.path;
  cookie.domain = from.domain;
  cookie.expires = from.expires;
  cookie.maxage = from.maxage;
  cookie.secure = from.secure;
  cookie.httponly = from.httponly;
  console.log(name, value, path, domain, expires, maxage, secure, httponly);
}

// IExtension and the config interfaces, element by element.
export function plainInterfaces(ext: websocket.IExtension, config: websocket.IConfig, server: websocket.IServerConfig): void {
  const extName: string = ext.name;
  const extValue: string = ext.value;
  ext.name = extName;
  ext.value = extValue;
  const closeTimeout: number | undefined = config.closeTimeout;
  const assemble: boolean | undefined = config.assembleFragments;
  config.closeTimeout = closeTimeout;
  config.assembleFragments = assemble;
  const httpServer: http.Server | Array<http.Server | import('https').Server> | import('https').Server = server.httpServer;
  server.httpServer = httpServer;
  const keepalive: boolean | undefined = server.keepalive;
  server.keepalive = keepalive;
}

// The request's fields, its cookies (maxage included) and the underscore state @types declares.
export function requestMembers(request: websocket.request): void {
  const httpRequest: http.IncomingMessage = request.httpRequest;
  const resourceURL: url.UrlWithParsedQuery = request.resourceURL;
  const socket: net.Socket = request.socket;
  const serverConfig: websocket.IServerConfig = request.serverConfig;
  const requestedExtensions: unknown[] = request.requestedExtensions;
  const caseMap: { [key: string]: string } = request.protocolFullCaseMap;
  const cookies: websocket.ICookie[] = request.cookies;
  const firstMaxage: number | undefined = cookies[0]?.maxage;
  const resolved: boolean = request._resolved;
  const closing: boolean = request._socketIsClosing;
  console.log(httpRequest, resourceURL, socket, serverConfig, requestedExtensions, caseMap, firstMaxage, resolved, closing);
  request.cookies = cookies;
  request._resolved = resolved;
  request._socketIsClosing = closing;
  const accepted: websocket.connection = request.accept('chat', request.origin, cookies);
  request._handleSocketCloseBeforeAccept();
  request._removeSocketCloseListeners();
  request._verifyResolution();
  console.log(accepted.remoteAddress);
}

// The router request's cookies, as a handler reads them.
export function routerRequestMembers(request: websocket.IRouterRequest): void {
  const cookies: websocket.ICookie[] = request.cookies;
  const maxage: number | undefined = cookies[0]?.maxage;
  const underlying: websocket.request = request.webSocketRequest;
  const resourceURL: url.UrlWithParsedQuery = request.resourceURL;
  console.log(maxage, underlying.key, resourceURL.pathname);
}

// Every connection field @types declares, except the four parser internals test/types/README.md lists.
export function connectionMembers(conn: websocket.connection): void {
  const closeDescription: string = conn.closeDescription;
  const closeReasonCode: number = conn.closeReasonCode;
  const protocol: string = conn.protocol;
  const config: websocket.IConfig = conn.config;
  const socket: net.Socket = conn.socket;
  const maskOutgoingPackets: boolean = conn.maskOutgoingPackets;
  const maskBytes: Buffer = conn.maskBytes;
  const frameHeader: Buffer = conn.frameHeader;
  const state: string = conn.state;
  const waitingForCloseResponse: boolean = conn.waitingForCloseResponse;
  const receivedEnd: boolean = conn.receivedEnd;
  const closeTimeout: number = conn.closeTimeout;
  const maxReceivedMessageSize: number = conn.maxReceivedMessageSize;
  const outputBufferFull: boolean = conn.outputBufferFull;
  const inputPaused: boolean = conn.inputPaused;
  const bytesWaitingToFlush: number = conn.bytesWaitingToFlush;
  const socketHadError: boolean = conn.socketHadError;
  const extensions: websocket.IExtension[] = conn.extensions;
  const remoteAddress: string = conn.remoteAddress;
  const webSocketVersion: number = conn.webSocketVersion;
  const connected: boolean = conn.connected;
  const pingListeners: number = conn._pingListenerCount;
  console.log(closeDescription, closeReasonCode, protocol, config, socket, maskOutgoingPackets, maskBytes, frameHeader, state);
  console.log(waitingForCloseResponse, receivedEnd, closeTimeout, maxReceivedMessageSize, outputBufferFull, inputPaused);
  console.log(bytesWaitingToFlush, socketHadError, extensions, remoteAddress, webSocketVersion, connected, pingListeners);

  // The writable ones user code sets (tests and subclasses tune these).
  conn.closeTimeout = closeTimeout;
  conn.maxReceivedMessageSize = maxReceivedMessageSize;
  conn.maskOutgoingPackets = maskOutgoingPackets;
  conn.maskBytes = maskBytes;
  conn.frameHeader = frameHeader;
  conn.extensions = extensions;
  conn.remoteAddress = remoteAddress;
  conn.webSocketVersion = webSocketVersion;
  conn.protocol = protocol;
}

// Every frame field, both ways (frames are built by hand for sendFrame()).
export function frameMembers(frame: websocket.frame, list: websocket.IBufferList): websocket.frame {
  const fin: boolean = frame.fin;
  const rsv1: boolean = frame.rsv1;
  const rsv2: boolean = frame.rsv2;
  const rsv3: boolean = frame.rsv3;
  const opcode: number = frame.opcode;
  const length: number = frame.length;
  const binaryPayload: Buffer = frame.binaryPayload;
  const maskBytes: Buffer = frame.maskBytes;
  const frameHeader: Buffer = frame.frameHeader;
  const config: websocket.IConfig = frame.config;
  const maxReceivedFrameSize: number = frame.maxReceivedFrameSize;
  const protocolError: boolean = frame.protocolError;
  const dropReason: string = frame.dropReason;
  const frameTooLarge: boolean = frame.frameTooLarge;
  const invalidCloseFrameLength: boolean = frame.invalidCloseFrameLength;
  const parseState: number = frame.parseState;
  const closeStatus: number = frame.closeStatus;
  const complete: boolean = frame.addData(list);
  const skipped: boolean = frame.throwAwayPayload(list);
  const wire: Buffer = frame.toBuffer(false);
  const text: string = frame.toString();
  console.log(length, protocolError, dropReason, frameTooLarge, invalidCloseFrameLength, parseState, complete, skipped, wire, text);

  const out = new websocket.frame();
  out.fin = fin;
  out.rsv1 = rsv1;
  out.rsv2 = rsv2;
  out.rsv3 = rsv3;
  out.opcode = opcode;
  out.binaryPayload = binaryPayload;
  out.maskBytes = maskBytes;
  out.frameHeader = frameHeader;
  out.config = config;
  out.maxReceivedFrameSize = maxReceivedFrameSize;
  out.closeStatus = closeStatus;
  return out;
}

// The server's collections and config, and the router's handler list.
export function serverAndRouterMembers(server: websocket.server, router: websocket.router): void {
  const config: websocket.IServerConfig | undefined = server.config;
  const connections: websocket.connection[] = server.connections;
  const pending: websocket.request[] = server.pendingRequests;
  console.log(config, connections.length, pending.length);
  const handlers = router.handlers;
  for (const handler of handlers) {
    const pathString: string = handler.pathString;
    const protocol: string = handler.protocol;
    const callback: (request: websocket.IRouterRequest) => void = handler.callback;
    const asHandler: websocket.IRouterHandler = handler;
    console.log(pathString, protocol, callback, asHandler);
  }
}

// The deprecation object and the version string, both ways.
export function moduleValues(): void {
  const disabled: boolean = websocket.deprecation.disableWarnings;
  const map: { [name: string]: string } = websocket.deprecation.deprecationWarningMap;
  websocket.deprecation.disableWarnings = disabled;
  websocket.deprecation.deprecationWarningMap = map;
  const warn: (deprecationName: string) => void = websocket.deprecation.warn;
  const version: string = websocket.version;
  console.log(warn, version);
}

// The close-code table, read as @types types it.
export const descriptions: { [code: number]: string } = websocket.connection.CLOSE_DESCRIPTIONS;
