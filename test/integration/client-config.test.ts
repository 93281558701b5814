/**
 * WebSocketClient construction and connect() argument checks (reference §6.1, §6.2): defaults,
 * the version check, the caller's config mutation, and the synchronous errors connect() throws.
 */
import websocket = require('../../lib/websocket');
import { Tracker, rawUpgradeServer } from '../helpers/client-harness';

const WebSocketClient = websocket.client;

const tracker = new Tracker();
afterEach(() => tracker.cleanup());

describe('WebSocketClient config', () => {
  test('defaults match WebSocket-Node 1.0.35', () => {
    const client = new WebSocketClient();
    expect(client.config).toEqual({
      maxReceivedFrameSize: 0x100000,
      maxReceivedMessageSize: 0x800000,
      fragmentOutgoingMessages: true,
      fragmentationThreshold: 0x4000,
      webSocketVersion: 13,
      assembleFragments: true,
      disableNagleAlgorithm: true,
      closeTimeout: 5000,
      tlsOptions: {},
    });
  });

  test('given keys override the defaults and unknown keys are kept', () => {
    const client = new WebSocketClient({ maxReceivedFrameSize: 1234, closeTimeout: 10, keepalive: true, keepaliveInterval: 50 } as never);
    expect(client.config.maxReceivedFrameSize).toBe(1234);
    expect(client.config.closeTimeout).toBe(10);
    expect(client.config['keepalive']).toBe(true);
    expect(client.config['keepaliveInterval']).toBe(50);
    expect(client.config.maxReceivedMessageSize).toBe(0x800000);
  });

  test.each([7, 12, 14, 0])('webSocketVersion %p throws the exact message', (version) => {
    expect(() => new WebSocketClient({ webSocketVersion: version })).toThrow(
      new Error('Requested webSocketVersion is not supported. Allowed values are 8 and 13.'),
    );
  });

  test('webSocketVersion 8 and 13 are accepted', () => {
    expect(new WebSocketClient({ webSocketVersion: 8 }).config.webSocketVersion).toBe(8);
    expect(new WebSocketClient({ webSocketVersion: 13 }).config.webSocketVersion).toBe(13);
  });

  test("the constructor deletes tlsOptions from the caller's config and keeps a copy", () => {
    const tlsOptions = { rejectUnauthorized: false, servername: 'example.test' };
    const config: { tlsOptions?: typeof tlsOptions; closeTimeout: number } = { tlsOptions, closeTimeout: 100 };
    const client = new WebSocketClient(config);
    expect('tlsOptions' in config).toBe(false);
    expect(config.closeTimeout).toBe(100);
    expect(client.config.tlsOptions).toEqual({ rejectUnauthorized: false, servername: 'example.test' });
    // A copy: later changes to the caller's object do not reach the client.
    expect(client.config.tlsOptions).not.toBe(tlsOptions);
  });

  test('a config without tlsOptions still gets tlsOptions {}', () => {
    const client = new WebSocketClient({ closeTimeout: 1 });
    expect(client.config.tlsOptions).toEqual({});
  });
});

describe('WebSocketClient connect() argument checks', () => {
  const noProtocol = 'You must specify a full WebSocket URL, including protocol.';
  const noHost = 'You must specify a full WebSocket URL, including hostname. Relative URLs are not supported.';

  function connectThrows(...args: Parameters<InstanceType<typeof WebSocketClient>['connect']>): unknown {
    const client = new WebSocketClient();
    client.on('connectFailed', () => undefined);
    try {
      client.connect(...args);
    } catch (error) {
      return error;
    } finally {
      client.abort();
    }
    return undefined;
  }

  test.each(['/relative/path', 'localhost', '//127.0.0.1:1/x'])('%p: no protocol', (url) => {
    const error = connectThrows(url);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(noProtocol);
  });

  // url.parse() (WebSocket-Node) finds no host in these; a WHATWG parser would promote the first path
  // segment to the hostname and connect somewhere the caller never named.
  test.each(['ws://', 'ws:/chat', 'ws:///chat', 'ws:chat'])('%p: relative URL (no hostname)', (url) => {
    const error = connectThrows(url);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(noHost);
  });

  test.each([
    ['chat room', ' '],
    ['chat,room', ','],
    ['a(b', '('],
    ['x"y', '"'],
    ['é', 'é'],
  ])('protocol %p throws for the invalid character %p', (protocol, bad) => {
    const error = connectThrows('ws://127.0.0.1:9/', [protocol]);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(`Protocol list contains invalid character "${bad}"`);
  });

  test('a bad protocol given as a plain string is checked too', () => {
    const error = connectThrows('ws://127.0.0.1:9/', 'bad/proto');
    expect((error as Error).message).toBe('Protocol list contains invalid character "/"');
  });

  test('the first invalid protocol in the list is reported', () => {
    const error = connectThrows('ws://127.0.0.1:9/', ['good', 'b@d', 'w{rse']);
    expect((error as Error).message).toBe('Protocol list contains invalid character "@"');
  });

  test('protocols normalisation: string → [s], empty/null/non-array → []', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker, (c) => c.socket.destroy());
    const url = `ws://127.0.0.1:${port}/`;
    const cases: Array<[unknown, string[]]> = [
      ['chat', ['chat']],
      ['', []],
      [null, []],
      [undefined, []],
      [{ 0: 'chat', length: 1 }, []],
    ];
    for (const [input, expected] of cases) {
      const client = new WebSocketClient();
      client.on('connectFailed', () => undefined);
      client.connect(url, input as string);
      expect(client.protocols).toEqual(expected);
      const captured = await upgrades.next();
      if (expected.length === 0) expect(captured.headers['sec-websocket-protocol']).toBeUndefined();
      else expect(captured.headers['sec-websocket-protocol']).toBe(expected.join(', '));
    }
  });

  test('client properties after connect(): url, secure, origin, base64nonce, _req', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const client = new WebSocketClient();
    client.on('connectFailed', () => undefined);
    client.connect(`ws://127.0.0.1:${port}/a/b?c=d`, ['p1'], 'http://origin.test');
    expect(client.url?.protocol).toBe('ws:');
    expect(client.url?.hostname).toBe('127.0.0.1');
    expect(client.url?.port).toBe(String(port));
    expect(client.url?.pathname).toBe('/a/b');
    expect(client.secure).toBe(false);
    expect(client.origin).toBe('http://origin.test');
    expect(client.protocols).toEqual(['p1']);
    expect(typeof client.base64nonce).toBe('string');
    expect(client._req).not.toBeNull();
    const captured = await upgrades.next();
    expect(captured.headers['sec-websocket-key']).toBe(client.base64nonce);
    captured.socket.destroy();
  });

  test('wss: and https: URLs are secure, ws: and http: are not', () => {
    const secureOf = (url: string): boolean => {
      const client = new WebSocketClient();
      client.on('connectFailed', () => undefined);
      client.connect(url);
      client.abort();
      return client.secure;
    };
    expect(secureOf('wss://127.0.0.1:9/')).toBe(true);
    // compat: as in WebSocket-Node, only wss: is secure; https: is plain text like http:.
    expect(secureOf('https://127.0.0.1:9/')).toBe(false);
    expect(secureOf('ws://127.0.0.1:9/')).toBe(false);
    expect(secureOf('http://127.0.0.1:9/')).toBe(false);
  });

  test('the default port is 80 for ws: and 443 for wss:', () => {
    const portOf = (url: string): string | null | undefined => {
      const client = new WebSocketClient();
      client.on('connectFailed', () => undefined);
      client.connect(url);
      client.abort();
      return client.url?.port;
    };
    expect(portOf('ws://127.0.0.1/')).toBe('80');
    expect(portOf('wss://127.0.0.1/')).toBe('443');
  });
});
