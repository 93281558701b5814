/**
 * WebSocketRouter and WebSocketRouterRequest (reference §8) on a real server, driven by our client:
 * attach/detach, mount validation, path and protocol matching, the client's protocol order, the
 * (origin, cookies) accept, reject with headers, the 404, unmount, and the routed request's fields.
 */
import * as http from 'node:http';
import websocket = require('../../lib/websocket');
import { Tracker, waitEvent, withTimeout } from '../helpers/client-harness';

const WebSocketRouter = websocket.router;
const WebSocketClient = websocket.client;
type Router = InstanceType<typeof WebSocketRouter>;
type RouterRequest = Parameters<Parameters<Router['mount']>[2]>[0];
type Connection = InstanceType<typeof websocket.connection>;

const tracker = new Tracker();
afterEach(() => tracker.cleanup());

async function routedServer(): Promise<{ router: Router; port: number; wsServer: InstanceType<typeof websocket.server> }> {
  const httpServer = http.createServer();
  const wsServer = new websocket.server({ httpServer });
  tracker.defer(() => wsServer.shutDown());
  const router = new WebSocketRouter({ server: wsServer });
  const port = await tracker.listen(httpServer);
  return { router, port, wsServer };
}

/** How a connection attempt ended, as the client saw it. */
type Outcome =
  | { kind: 'connect'; connection: Connection; protocol: string | undefined; response: http.IncomingMessage | undefined }
  | { kind: 'failed'; error: Error }
  | { kind: 'http'; response: http.IncomingMessage };

function attempt(url: string, protocols?: string[], options: { origin?: string; captureHttp?: boolean } = {}): Promise<Outcome> {
  const client = new WebSocketClient();
  return withTimeout(
    new Promise<Outcome>((resolve) => {
      client.on('connect', (connection: Connection) => {
        tracker.defer(() => connection.drop());
        resolve({ kind: 'connect', connection, protocol: connection.protocol ?? undefined, response: client.response });
      });
      client.on('connectFailed', (error: Error) => resolve({ kind: 'failed', error }));
      if (options.captureHttp) {
        client.on('httpResponse', (response: http.IncomingMessage) => {
          response.resume();
          resolve({ kind: 'http', response });
        });
      }
      client.connect(url, protocols, options.origin);
    }),
    'the connection attempt',
  );
}

/** Mounts a handler that accepts and records which route took the request. */
function acceptingRoute(router: Router, path: string | RegExp, protocol: string | null, name: string, log: string[]): void {
  router.mount(path, protocol, (request) => {
    log.push(name);
    request.accept(request.origin);
  });
}

describe('WebSocketRouter attach/detach', () => {
  test('attachServer without a server throws', () => {
    const router = new WebSocketRouter();
    expect(() => router.attachServer(undefined as never)).toThrow(new Error('You must specify a WebSocketServer instance to attach to.'));
    expect(() => router.attachServer(null as never)).toThrow('You must specify a WebSocketServer instance to attach to.');
  });

  test('detachServer when not attached throws', () => {
    const router = new WebSocketRouter();
    expect(router.server).toBeFalsy();
    expect(() => router.detachServer()).toThrow(new Error('Cannot detach from server: not attached.'));
  });

  test("the config's server is attached; detachServer removes the 'request' listener", async () => {
    const { router, wsServer } = await routedServer();
    expect(router.server).toBe(wsServer);
    expect(wsServer.listenerCount('request')).toBe(1);
    router.detachServer();
    expect(router.server).toBeNull();
    expect(wsServer.listenerCount('request')).toBe(0);
    expect(() => router.detachServer()).toThrow('Cannot detach from server: not attached.');
    router.attachServer(wsServer);
    expect(wsServer.listenerCount('request')).toBe(1);
  });

  test('a detached router no longer routes (the server then refuses with its own 404)', async () => {
    const { router, port } = await routedServer();
    const log: string[] = [];
    acceptingRoute(router, '*', null, 'any', log);
    router.detachServer();
    const outcome = await attempt(`ws://127.0.0.1:${port}/`, undefined, { captureHttp: true });
    expect(outcome.kind).toBe('http');
    expect(log).toEqual([]);
  });
});

describe('WebSocketRouter mount validation', () => {
  const noop = (): void => undefined;

  test('a path is required', () => {
    const router = new WebSocketRouter();
    expect(() => router.mount('', 'chat', noop)).toThrow(new Error('You must specify a path for this handler.'));
    expect(() => router.mount(undefined as never, 'chat', noop)).toThrow('You must specify a path for this handler.');
  });

  test('a callback is required, so there is no two-argument form', () => {
    const router = new WebSocketRouter();
    expect(() => router.mount('/x', 'chat', undefined as never)).toThrow(new Error('You must specify a callback for this handler.'));
    expect(() => (router.mount as unknown as (p: string, cb: () => void) => void)('*', noop)).toThrow(
      'You must specify a callback for this handler.',
    );
  });

  test('a path that is neither a string nor a RegExp throws', () => {
    const router = new WebSocketRouter();
    expect(() => router.mount(42 as never, 'chat', noop)).toThrow(new Error('Path must be specified as either a string or a RegExp.'));
  });

  test('one handler per path/protocol, protocols compared case-insensitively', () => {
    const router = new WebSocketRouter();
    router.mount('/chat', 'Chat', noop);
    expect(() => router.mount('/chat', 'chat', noop)).toThrow(new Error('You may only mount one handler per path/protocol combination.'));
    router.mount('/chat', 'other', noop);
    router.mount('/chat', null, noop);
    expect(() => router.mount('/chat', undefined, noop)).toThrow('You may only mount one handler per path/protocol combination.');
    // A string path and the RegExp it becomes are the same route.
    expect(() => router.mount(/^\/chat$/, 'chat', noop)).toThrow('You may only mount one handler per path/protocol combination.');
    router.mount(/^\/chat\/?$/, 'chat', noop);
    expect(() => router.mount(/^\/chat\/?$/, 'CHAT', noop)).toThrow('You may only mount one handler per path/protocol combination.');
  });

  test('handlers are stored as {path, pathString, protocol, callback}', () => {
    const router = new WebSocketRouter();
    router.mount('/a.b', 'Proto', noop);
    router.mount('*', null, noop);
    expect(router.handlers).toHaveLength(2);
    const [first, second] = router.handlers;
    expect(first!.path).toBeInstanceOf(RegExp);
    expect(first!.path.test('/a.b')).toBe(true);
    expect(first!.path.test('/aXb')).toBe(false);
    expect(first!.pathString).toBe(first!.path.toString());
    expect(first!.protocol).toBe('proto');
    expect(first!.callback).toBe(noop);
    expect(second!.pathString).toBe('/^.*$/');
    expect(second!.protocol).toBe('____no_protocol____');
  });
});

describe('WebSocketRouter routing', () => {
  test('string paths match exactly (pathname only; the query is ignored)', async () => {
    const { router, port } = await routedServer();
    const log: string[] = [];
    acceptingRoute(router, '/chat', null, 'chat', log);
    expect((await attempt(`ws://127.0.0.1:${port}/chat`)).kind).toBe('connect');
    expect((await attempt(`ws://127.0.0.1:${port}/chat?room=1`)).kind).toBe('connect');
    expect((await attempt(`ws://127.0.0.1:${port}/chat/room`)).kind).toBe('failed');
    expect((await attempt(`ws://127.0.0.1:${port}/cha`)).kind).toBe('failed');
    expect((await attempt(`ws://127.0.0.1:${port}/Chat`)).kind).toBe('failed');
    expect(log).toEqual(['chat', 'chat']);
  });

  test('regex characters in string paths are literal', async () => {
    const { router, port } = await routedServer();
    const log: string[] = [];
    acceptingRoute(router, '/v1.0/(x)+', null, 'literal', log);
    expect((await attempt(`ws://127.0.0.1:${port}/v1.0/(x)+`)).kind).toBe('connect');
    expect((await attempt(`ws://127.0.0.1:${port}/v1x0/xx`)).kind).toBe('failed');
    expect(log).toEqual(['literal']);
  });

  test("'*' matches every path", async () => {
    const { router, port } = await routedServer();
    const log: string[] = [];
    acceptingRoute(router, '*', null, 'star', log);
    for (const path of ['/', '/a', '/a/b/c?d=e']) {
      expect((await attempt(`ws://127.0.0.1:${port}${path}`)).kind).toBe('connect');
    }
    expect(log).toEqual(['star', 'star', 'star']);
  });

  test('RegExp paths', async () => {
    const { router, port } = await routedServer();
    const log: string[] = [];
    acceptingRoute(router, /^\/room\/\d+$/, null, 'room', log);
    expect((await attempt(`ws://127.0.0.1:${port}/room/42`)).kind).toBe('connect');
    expect((await attempt(`ws://127.0.0.1:${port}/room/abc`)).kind).toBe('failed');
    expect(log).toEqual(['room']);
  });

  test('no-protocol routes take only requests without a protocol, and vice versa', async () => {
    const { router, port } = await routedServer();
    const log: string[] = [];
    acceptingRoute(router, '/x', null, 'none', log);
    acceptingRoute(router, '/y', 'chat', 'chat', log);
    expect((await attempt(`ws://127.0.0.1:${port}/x`)).kind).toBe('connect');
    expect((await attempt(`ws://127.0.0.1:${port}/x`, ['chat'])).kind).toBe('failed');
    expect((await attempt(`ws://127.0.0.1:${port}/y`)).kind).toBe('failed');
    const routed = await attempt(`ws://127.0.0.1:${port}/y`, ['chat']);
    expect(routed.kind).toBe('connect');
    expect(routed.kind === 'connect' && routed.protocol).toBe('chat');
    expect(log).toEqual(['none', 'chat']);
  });

  test("protocol '*' matches any protocol and no protocol", async () => {
    const { router, port } = await routedServer();
    const seen: Array<string | null> = [];
    router.mount('/any', '*', (request) => {
      seen.push(request.protocol);
      request.accept(request.origin);
    });
    const withProtocol = await attempt(`ws://127.0.0.1:${port}/any`, ['whatever']);
    expect(withProtocol.kind === 'connect' && withProtocol.protocol).toBe('whatever');
    const without = await attempt(`ws://127.0.0.1:${port}/any`);
    expect(without.kind).toBe('connect');
    expect(seen).toEqual(['whatever', null]);
  });

  test("the client's protocol order decides, not the mount order", async () => {
    const { router, port } = await routedServer();
    const log: string[] = [];
    acceptingRoute(router, '/p', 'beta', 'beta', log);
    acceptingRoute(router, '/p', 'alpha', 'alpha', log);
    const first = await attempt(`ws://127.0.0.1:${port}/p`, ['alpha', 'beta']);
    expect(first.kind === 'connect' && first.protocol).toBe('alpha');
    const second = await attempt(`ws://127.0.0.1:${port}/p`, ['beta', 'alpha']);
    expect(second.kind === 'connect' && second.protocol).toBe('beta');
    // An unknown first choice falls through to the next one the client offered.
    const third = await attempt(`ws://127.0.0.1:${port}/p`, ['gamma', 'alpha']);
    expect(third.kind === 'connect' && third.protocol).toBe('alpha');
    expect(log).toEqual(['alpha', 'beta', 'alpha']);
  });

  test('for one protocol, the first matching handler in mount order wins', async () => {
    const { router, port } = await routedServer();
    const log: string[] = [];
    acceptingRoute(router, '*', 'chat', 'star', log);
    acceptingRoute(router, '/specific', 'chat', 'specific', log);
    await attempt(`ws://127.0.0.1:${port}/specific`, ['chat']);
    expect(log).toEqual(['star']);
  });

  test('protocols are matched lower-cased; the response keeps the case the client sent', async () => {
    const { router, port } = await routedServer();
    const seen: Array<string | null> = [];
    router.mount('/c', 'CHAT', (request) => {
      seen.push(request.protocol);
      request.accept(request.origin);
    });
    const outcome = await attempt(`ws://127.0.0.1:${port}/c`, ['Chat']);
    expect(outcome.kind).toBe('connect');
    expect(outcome.kind === 'connect' && outcome.protocol).toBe('Chat');
    expect(seen).toEqual(['chat']);
  });

  test("no match: 404 with X-WebSocket-Reject-Reason 'No handler is available for the given request.'", async () => {
    const { router, port } = await routedServer();
    acceptingRoute(router, '/only', null, 'only', []);
    const outcome = await attempt(`ws://127.0.0.1:${port}/other`, undefined, { captureHttp: true });
    expect(outcome.kind).toBe('http');
    const response = (outcome as { response: http.IncomingMessage }).response;
    expect(response.statusCode).toBe(404);
    expect(response.headers['x-websocket-reject-reason']).toBe('No handler is available for the given request.');
    const failed = await attempt(`ws://127.0.0.1:${port}/other`);
    expect(failed.kind).toBe('failed');
    expect((failed as { error: Error }).error.message).toMatch(/^Server responded with a non-101 status: 404 Not Found\n/);
    expect((failed as { error: Error }).error.message).toContain('x-websocket-reject-reason: No handler is available for the given request.\n');
  });

  test('an empty router refuses everything with the 404', async () => {
    const { port } = await routedServer();
    const outcome = await attempt(`ws://127.0.0.1:${port}/`, ['chat'], { captureHttp: true });
    expect(outcome.kind === 'http' && outcome.response.headers['x-websocket-reject-reason']).toBe(
      'No handler is available for the given request.',
    );
  });
});

describe('WebSocketRouterRequest', () => {
  test('carries the request fields, and no remoteAddresses or requestedProtocols', async () => {
    const { router, port } = await routedServer();
    let routed: RouterRequest | undefined;
    router.mount('/fields', 'chat', (request) => {
      routed = request;
      request.accept(request.origin);
    });
    const client = new WebSocketClient();
    client.connect(`ws://127.0.0.1:${port}/fields?x=1`, ['other', 'chat'], 'http://origin.test', {
      Cookie: 'session=abc; theme=dark',
      'Sec-WebSocket-Extensions': 'x-test; a=1',
    });
    const [connection] = await waitEvent<[Connection]>(client, 'connect');
    tracker.defer(() => connection.drop());
    const request = routed!;
    expect(request).toBeInstanceOf(require('events').EventEmitter);
    expect(request.webSocketRequest).toBeInstanceOf(websocket.request);
    expect(request.protocol).toBe('chat');
    expect(request.origin).toBe('http://origin.test');
    expect(request.resource).toBe('/fields?x=1');
    expect(request.resourceURL.pathname).toBe('/fields');
    expect((request.resourceURL.query as Record<string, string>)['x']).toBe('1');
    expect(request.httpRequest).toBe(request.webSocketRequest.httpRequest);
    expect(request.httpRequest.headers.origin).toBe('http://origin.test');
    expect(request.remoteAddress).toBe('127.0.0.1');
    expect(request.webSocketVersion).toBe(13);
    expect(request.requestedExtensions).toEqual([{ name: 'x-test', params: [{ name: 'a', value: '1' }] }]);
    expect(request.cookies).toEqual([
      { name: 'session', value: 'abc' },
      { name: 'theme', value: 'dark' },
    ]);
    expect('remoteAddresses' in request).toBe(false);
    expect('requestedProtocols' in request).toBe(false);
  });

  test('protocol is null for a no-protocol route', async () => {
    const { router, port } = await routedServer();
    let protocol: string | null | undefined;
    router.mount('/n', null, (request) => {
      protocol = request.protocol;
      request.accept();
    });
    expect((await attempt(`ws://127.0.0.1:${port}/n`)).kind).toBe('connect');
    expect(protocol).toBeNull();
  });

  test("accept(origin, cookies) answers with the routed protocol and cookies, and emits 'requestAccepted'", async () => {
    const { router, port } = await routedServer();
    const accepted: unknown[] = [];
    let returned: unknown;
    router.mount('/accept', 'chat', (request) => {
      request.on('requestAccepted', (connection: unknown) => accepted.push(connection));
      returned = request.accept('http://allowed.test', [{ name: 'token', value: 'xyz', path: '/', httponly: true }]);
    });
    const outcome = await attempt(`ws://127.0.0.1:${port}/accept`, ['chat'], { origin: 'http://allowed.test' });
    expect(outcome.kind).toBe('connect');
    const { response, protocol } = outcome as { response: http.IncomingMessage; protocol: string };
    expect(protocol).toBe('chat');
    expect(response.headers['sec-websocket-protocol']).toBe('chat');
    expect(response.headers.origin).toBe('http://allowed.test');
    expect(response.headers['set-cookie']).toEqual(['token=xyz;Path=/;HttpOnly']);
    expect(accepted).toHaveLength(1);
    expect(accepted[0]).toBe(returned);
    expect(accepted[0]).toBeInstanceOf(websocket.connection);
  });

  test("reject(status, reason, extraHeaders) reaches the client and emits 'requestRejected'", async () => {
    const { router, port } = await routedServer();
    const rejected: unknown[] = [];
    let routed: unknown;
    router.mount('/reject', null, (request) => {
      routed = request;
      request.on('requestRejected', (which: unknown) => rejected.push(which));
      request.reject(403, 'Not on the list', { 'X-Custom-Header': 'custom', 'X-Other': 'other' });
    });
    const outcome = await attempt(`ws://127.0.0.1:${port}/reject`, undefined, { captureHttp: true });
    expect(outcome.kind).toBe('http');
    const response = (outcome as { response: http.IncomingMessage }).response;
    expect(response.statusCode).toBe(403);
    expect(response.headers['x-websocket-reject-reason']).toBe('Not on the list');
    expect(response.headers['x-custom-header']).toBe('custom');
    expect(response.headers['x-other']).toBe('other');
    expect(rejected).toEqual([routed]);
  });

  test('the connection from a routed accept exchanges messages', async () => {
    const { router, port } = await routedServer();
    router.mount('/echo', 'echo', (request) => {
      const connection = request.accept(request.origin);
      connection.on('message', (message) => {
        if (message.type === 'utf8') connection.sendUTF(`echo: ${message.utf8Data}`);
      });
    });
    const outcome = await attempt(`ws://127.0.0.1:${port}/echo`, ['echo']);
    const connection = (outcome as { connection: Connection }).connection;
    connection.sendUTF('hi');
    const [message] = await waitEvent<[{ utf8Data: string }]>(connection, 'message');
    expect(message.utf8Data).toBe('echo: hi');
  });
});

describe('WebSocketRouter unmount', () => {
  const noop = (): void => undefined;

  test('unmount(path, protocol) removes that route (protocol compared case-insensitively)', async () => {
    const { router, port } = await routedServer();
    const log: string[] = [];
    acceptingRoute(router, '/u', 'chat', 'chat', log);
    expect((await attempt(`ws://127.0.0.1:${port}/u`, ['chat'])).kind).toBe('connect');
    router.unmount('/u', 'CHAT');
    expect(router.handlers).toHaveLength(0);
    expect((await attempt(`ws://127.0.0.1:${port}/u`, ['chat'])).kind).toBe('failed');
    expect(log).toEqual(['chat']);
  });

  test('unmount(path) without a protocol removes the no-protocol route only', () => {
    const router = new WebSocketRouter();
    router.mount('/u', null, noop);
    router.mount('/u', 'chat', noop);
    router.unmount('/u');
    expect(router.handlers.map((h) => h.protocol)).toEqual(['chat']);
    expect(() => router.unmount('/u')).toThrow(new Error('Unable to find a route matching the specified path and protocol.'));
  });

  test('unmount with the sentinel protocol still works', () => {
    const router = new WebSocketRouter();
    router.mount('/u', undefined, noop);
    router.unmount('/u', '____no_protocol____');
    expect(router.handlers).toHaveLength(0);
  });

  test('unmount finds RegExp and * routes by their source', () => {
    const router = new WebSocketRouter();
    router.mount(/^\/r\/\d+$/, 'p', noop);
    router.mount('*', 'p', noop);
    router.unmount(/^\/r\/\d+$/, 'p');
    router.unmount('*', 'p');
    expect(router.handlers).toHaveLength(0);
  });

  test('unmounting a route that does not exist throws', () => {
    const router = new WebSocketRouter();
    router.mount('/a', 'p', noop);
    expect(() => router.unmount('/b', 'p')).toThrow(new Error('Unable to find a route matching the specified path and protocol.'));
    expect(() => router.unmount('/a', 'q')).toThrow('Unable to find a route matching the specified path and protocol.');
    expect(router.findHandlerIndex('/^\\/a$/', 'P')).toBe(0);
    expect(router.findHandlerIndex('/^\\/a$/', 'q')).toBe(-1);
  });

  test('pathToRegExp: * → /^.*$/, strings escaped and anchored, RegExp unchanged', () => {
    const router = new WebSocketRouter();
    expect(router.pathToRegExp('*').toString()).toBe('/^.*$/');
    const escaped = router.pathToRegExp('/a.b*c');
    expect(escaped.test('/a.b*c')).toBe(true);
    expect(escaped.test('/aXbbbc')).toBe(false);
    const regex = /x/;
    expect(router.pathToRegExp(regex)).toBe(regex);
  });
});
