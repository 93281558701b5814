// A typical echo/chat server written against @types/websocket, namespace-import style.
// Covers: server, request, connection, IConfig, IServerConfig, ICookie, IStringified, Message,
// IUtf8Message, IBinaryMessage, and every server / request / connection event overload.
import * as http from 'http';
import * as https from 'https';
import * as websocket from 'websocket';
import { expectType, notAny } from '../helpers';

const httpServer = http.createServer((_req, res) => {
  res.writeHead(404);
  res.end();
});
const tlsServer = https.createServer({ key: 'k', cert: 'c' });

// Every IServerConfig member, including the inherited IConfig ones.
const serverConfig: websocket.IServerConfig = {
  httpServer: [httpServer, tlsServer],
  maxReceivedFrameSize: 0x10000,
  maxReceivedMessageSize: 0x100000,
  fragmentOutgoingMessages: true,
  fragmentationThreshold: 0x4000,
  assembleFragments: true,
  closeTimeout: 5000,
  disableNagleAlgorithm: true,
  keepalive: true,
  keepaliveInterval: 20000,
  dropConnectionOnKeepaliveTimeout: true,
  keepaliveGracePeriod: 10000,
  useNativeKeepalive: false,
  autoAcceptConnections: false,
  ignoreXForwardedFor: false,
};
const sharedLimits: websocket.IConfig = serverConfig;
expectType<number | undefined>(sharedLimits.maxReceivedFrameSize);

// The other httpServer shapes: one http server, one https server.
export const plain = new websocket.server({ httpServer });
export const secure = new websocket.server({ httpServer: tlsServer, keepalive: false });

// Constructed unmounted, then mounted and unmounted by hand.
export const late = new websocket.server();
late.mount({ httpServer, autoAcceptConnections: true });
late.unmount();

export const wsServer: websocket.server = new websocket.server(serverConfig);
const maybeConfig: websocket.IServerConfig | undefined = wsServer.config;
if (wsServer.config) {
  expectType<boolean | undefined>(wsServer.config.keepalive);
}
const live: websocket.connection[] = wsServer.connections;
const waiting: websocket.request[] = wsServer.pendingRequests;

function originIsAllowed(origin: string): boolean {
  return origin === 'https://example.com';
}

// A subclass that carries per-connection state, a pattern common in user code.
class ChatConnection extends websocket.connection {
  nickname?: string;
}
const byNickname = new Map<string, websocket.connection>();

wsServer.on('request', (request) => {
  notAny(request);
  const req: websocket.request = request;

  const host: string = req.host;
  const resource: string = req.resource;
  const key: string = req.key;
  const pathname: string | null = req.resourceURL.pathname;
  const token = req.resourceURL.query['token'];
  const remoteAddress: string = req.remoteAddress;
  const chain: string[] = req.remoteAddresses;
  const version: number = req.webSocketVersion;
  const extensionCount: number = req.requestedExtensions.length;
  const protocols: string[] = req.requestedProtocols;
  const originalCase: string | undefined = req.protocolFullCaseMap['chat'];
  const ua = req.httpRequest.headers['user-agent'];
  const port = req.socket.remotePort;
  const keepalive = req.serverConfig.keepalive;
  console.log(host, resource, key, pathname, token, remoteAddress, chain, version, extensionCount, ua, port, keepalive, originalCase);

  if (!originIsAllowed(request.origin)) {
    request.reject(403, 'Origin not allowed');
    return;
  }
  if (protocols.indexOf('chat') === -1) {
    request.reject(400, 'Unsupported protocol', { 'X-Supported': 'chat' });
    return;
  }

  const session: websocket.ICookie | undefined = request.cookies.find((c) => c.name === 'session');
  if (!session) {
    request.reject(401);
    return;
  }
  expectType<string>(session.value);

  // Every ICookie member.
  const cookies: websocket.ICookie[] = [
    {
      name: 'session',
      value: session.value,
      path: '/',
      domain: 'example.com',
      expires: new Date(Date.now() + 3600 * 1000),
      maxage: 3600,
      secure: true,
      httponly: true,
    },
    { name: 'theme', value: 'dark' },
  ];

  request.on('requestAccepted', (accepted) => {
    notAny(accepted);
    expectType<websocket.connection>(accepted);
  });
  request.on('requestRejected', (rejected) => {
    notAny(rejected);
    expectType<websocket.request>(rejected);
  });
  request.on('requestResolved', (resolved: websocket.request) => {
    console.log('resolved', resolved.resource);
  });
  request.addListener('requestAccepted', (accepted: websocket.connection) => accepted.remoteAddress);
  request.addListener('requestRejected', (rejected: websocket.request) => rejected.key);
  request.addListener('requestResolved', (resolved) => resolved.host);

  const connection: websocket.connection = request.accept('chat', request.origin, cookies);
  wireEcho(connection);
});

// The other accept shapes that upstream's README and user code use.
wsServer.on('request', (request: websocket.request) => {
  if (request.resource === '/anything') {
    wireEcho(request.accept());
  } else if (request.resource === '/no-protocol') {
    wireEcho(request.accept(null, request.origin));
  } else if (request.resource === '/undefined-protocol') {
    wireEcho(request.accept(undefined, request.origin));
  } else {
    request.reject();
  }
});

wsServer.on('connect', (connection) => {
  notAny(connection);
  console.log('connections open:', wsServer.connections.length, connection.remoteAddress);
});
wsServer.on('close', (connection, reason, description) => {
  notAny(connection);
  notAny(reason);
  notAny(description);
  const code: number = reason;
  const text: string = description;
  console.log(connection.remoteAddress, code, text);
});
wsServer.addListener('request', (request: websocket.request) => request.reject(503));
wsServer.addListener('connect', (connection: websocket.connection) => connection.remoteAddress);
wsServer.addListener('close', (connection: websocket.connection, reason: number, description: string) => {
  console.log(connection.closeReasonCode, reason, description);
});

export function wireEcho(connection: websocket.connection): void {
  const remote: string = connection.remoteAddress;
  const open: boolean = connection.connected;
  const protocol: string = connection.protocol;
  const wsVersion: number = connection.webSocketVersion;
  const localPort = connection.socket.localPort;
  const frameLimit: number | undefined = connection.config.maxReceivedFrameSize;
  console.log(remote, open, protocol, wsVersion, localPort, frameLimit);

  connection.on('message', (message) => {
    notAny(message);
    if (message.type === 'utf8') {
      const text: string = message.utf8Data;
      connection.sendUTF(text);
      connection.sendUTF(text, (err) => {
        if (err) console.error(err.message);
      });
    } else if (message.type === 'binary') {
      const bytes: Buffer = message.binaryData;
      connection.sendBytes(bytes);
      connection.sendBytes(bytes, (err?: Error) => {
        if (err) connection.drop(websocket.connection.CLOSE_REASON_ABNORMAL, err.message);
      });
    }
  });

  // Exhaustive switch over the discriminated union, with the named member interfaces.
  connection.on('message', (message: websocket.Message) => {
    switch (message.type) {
      case 'utf8': {
        const m: websocket.IUtf8Message = message;
        connection.send(m.utf8Data);
        break;
      }
      case 'binary': {
        const m: websocket.IBinaryMessage = message;
        connection.send(m.binaryData, (err) => err && console.error(err));
        break;
      }
      default: {
        const unreachable: never = message;
        throw new Error(String(unreachable));
      }
    }
  });

  connection.on('frame', (frame) => {
    notAny(frame);
    expectType<websocket.frame>(frame);
  });
  connection.on('close', (reasonCode, description) => {
    notAny(reasonCode);
    notAny(description);
    const code: number = reasonCode;
    const text: string = description;
    console.log(`peer ${connection.remoteAddress} disconnected: ${code} ${text}`);
    byNickname.delete(remote);
  });
  connection.on('error', (error) => {
    notAny(error);
    console.error(error.message, error.stack);
  });
  connection.on('drain', () => console.log('drained'));
  connection.on('pause', () => console.log('paused'));
  connection.on('resume', () => console.log('resumed'));
  connection.on('ping', (cancel, data) => {
    notAny(cancel);
    notAny(data);
    if (data.length > 64) cancel();
  });
  connection.on('pong', (data) => {
    notAny(data);
    const payload: Buffer = data;
    console.log('pong', payload.length);
  });

  // addListener with explicitly annotated listeners, in @types' parameter types.
  connection.addListener('message', (data: websocket.Message) => data.type);
  connection.addListener('frame', (frame: websocket.frame) => frame.opcode);
  connection.addListener('close', (code: number, desc: string) => console.log(code, desc));
  connection.addListener('error', (err: Error) => console.error(err));
  connection.addListener('drain', () => undefined);
  connection.addListener('pause', () => undefined);
  connection.addListener('resume', () => undefined);
  connection.addListener('ping', (cancel: () => void, binaryPayload: Buffer) => binaryPayload.length > 0 || cancel());
  connection.addListener('pong', (binaryPayload: Buffer) => binaryPayload.length);

  // The inherited EventEmitter methods still take these listeners.
  const onMessage = (data: websocket.Message): void => {
    console.log(data.type);
  };
  connection.once('message', onMessage);
  connection.removeListener('message', onMessage);
  connection.off('message', onMessage);
  connection.prependListener('close', (code: number) => console.log(code));
  console.log(connection.listenerCount('message'));
  connection.removeAllListeners('pong');
  connection.setMaxListeners(20);

  // Every send shape: strings, Buffers, IStringified objects, numbers (issue #195), callbacks.
  const snapshot: websocket.IStringified = { toString: () => JSON.stringify({ users: byNickname.size }) };
  connection.sendUTF(snapshot);
  connection.sendUTF(new Date());
  connection.send('text');
  connection.send(Buffer.from([1, 2, 3]));
  connection.send(snapshot);
  connection.send(42);
  connection.send('text', (err?: Error) => err && console.error(err.message));
  connection.ping(Buffer.from('are you there'));
  connection.ping('heartbeat');
  connection.pong(Buffer.alloc(0));
  connection.pause();
  connection.resume();

  // Closing.
  if (connection.connected) {
    connection.close();
    connection.close(websocket.connection.CLOSE_REASON_NORMAL);
    connection.close(4000, 'Application closed the session');
    connection.drop();
    connection.drop(websocket.connection.CLOSE_REASON_POLICY_VIOLATION, 'Go away');
    connection.drop(1006, 'Socket died', true);
  }
  const closeCode: number = connection.closeReasonCode;
  const closeText: string = connection.closeDescription;
  console.log(closeCode, closeText);
}

export function nameConnection(connection: websocket.connection, name: string): void {
  const chat = connection as ChatConnection;
  chat.nickname = name;
  byNickname.set(name, chat);
}

// Server-wide operations.
export function announce(text: string, blob: Buffer): void {
  wsServer.broadcast(text);
  wsServer.broadcast(blob);
  wsServer.broadcast({ toString: () => text });
  wsServer.broadcastUTF(text);
  wsServer.broadcastUTF(new Date());
  wsServer.broadcastBytes(blob);
  for (const c of wsServer.connections) {
    c.sendUTF(text);
  }
}

export function stop(graceful: boolean): void {
  if (graceful) {
    wsServer.shutDown();
  } else {
    wsServer.closeAllConnections();
    wsServer.unmount();
  }
  console.log(maybeConfig, live, waiting);
}

export function start(port: number): void {
  httpServer.listen(port, '127.0.0.1');
}
