/**
 * The opening-handshake request WebSocketClient sends (reference §6.2), captured on a raw http
 * server's 'upgrade' event: mandatory headers, Host, precedence of user headers, protocols, origin,
 * and the request target.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import websocket = require('../../lib/websocket');
import { Tracker, rawUpgradeServer, type CapturedUpgrade } from '../helpers/client-harness';
import { legacyUrlParse } from '../helpers/legacy-url-parse';

const WebSocketClient = websocket.client;
type ClientInstance = InstanceType<typeof WebSocketClient>;

const tracker = new Tracker();
afterEach(() => tracker.cleanup());

/** Lets `configure` connect a fresh client, returns what the server received; the upgrade is then dropped. */
async function capture(
  upgrades: Awaited<ReturnType<typeof rawUpgradeServer>>['upgrades'],
  configure: (client: ClientInstance) => void,
): Promise<CapturedUpgrade> {
  const client = new WebSocketClient();
  client.on('connectFailed', () => undefined);
  configure(client);
  const captured = await upgrades.next('the upgrade request');
  captured.socket.destroy();
  return captured;
}

/** All values sent for a header name (case-insensitive), in order. */
function rawValues(captured: CapturedUpgrade, name: string): string[] {
  return captured.rawHeaders.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
}

/**
 * An agent that sends every connection to 127.0.0.1:`port` whatever host the URL names, so Host
 * headers for default ports and IPv6 literals can be observed without binding to them.
 */
class RedirectAgent extends http.Agent {
  constructor(private readonly port: number) {
    super();
  }

  override createConnection(_options: unknown, callback?: (error: Error | null, socket: net.Socket) => void): net.Socket {
    const socket = net.connect(this.port, '127.0.0.1');
    if (callback) socket.once('connect', () => callback(null, socket));
    return socket;
  }
}

describe('WebSocketClient request headers', () => {
  test('Upgrade, Connection, Sec-WebSocket-Version 13 and a 16-byte base64 key; GET to /', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const captured = await capture(upgrades, (c) => c.connect(`ws://127.0.0.1:${port}`));
    expect(captured.request.method).toBe('GET');
    expect(captured.request.url).toBe('/');
    expect(captured.request.httpVersion).toBe('1.1');
    expect(rawValues(captured, 'upgrade')).toEqual(['websocket']);
    expect(rawValues(captured, 'connection')).toEqual(['Upgrade']);
    expect(rawValues(captured, 'sec-websocket-version')).toEqual(['13']);
    const keys = rawValues(captured, 'sec-websocket-key');
    expect(keys).toHaveLength(1);
    const decoded = Buffer.from(keys[0]!, 'base64');
    expect(decoded).toHaveLength(16);
    expect(decoded.toString('base64')).toBe(keys[0]);
    expect(captured.headers['sec-websocket-protocol']).toBeUndefined();
    expect(captured.headers.origin).toBeUndefined();
    expect(captured.headers['sec-websocket-origin']).toBeUndefined();
    // No permessage-deflate offer unless configured.
    expect(captured.headers['sec-websocket-extensions']).toBeUndefined();
  });

  test('each connection gets a different key', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const keys = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const captured = await capture(upgrades, (c) => c.connect(`ws://127.0.0.1:${port}/`));
      keys.add(captured.headers['sec-websocket-key'] as string);
    }
    expect(keys.size).toBe(8);
  });

  test('keys do not come from Math.random (they stay unique when it is constant)', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const random = jest.spyOn(Math, 'random').mockReturnValue(0.5);
    tracker.defer(() => random.mockRestore());
    const keys = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const captured = await capture(upgrades, (c) => c.connect(`ws://127.0.0.1:${port}/`));
      keys.add(captured.headers['sec-websocket-key'] as string);
    }
    random.mockRestore();
    expect(keys.size).toBe(4);
  });

  test('Host carries the port when it is not the default', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const captured = await capture(upgrades, (c) => c.connect(`ws://127.0.0.1:${port}/`));
    expect(rawValues(captured, 'host')).toEqual([`127.0.0.1:${port}`]);
  });

  test('Host has no port for ws:// on port 80 (explicit or implied)', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const agent = new RedirectAgent(port);
    tracker.defer(() => agent.destroy());
    let captured = await capture(upgrades, (c) => c.connect('ws://example.test/', null, null, null, { agent }));
    expect(rawValues(captured, 'host')).toEqual(['example.test']);
    captured = await capture(upgrades, (c) => c.connect('ws://example.test:80/', null, null, null, { agent }));
    expect(rawValues(captured, 'host')).toEqual(['example.test']);
    captured = await capture(upgrades, (c) => c.connect('ws://example.test:8080/', null, null, null, { agent }));
    expect(rawValues(captured, 'host')).toEqual(['example.test:8080']);
  });

  test('an IPv6 literal keeps its brackets in Host', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const agent = new RedirectAgent(port);
    tracker.defer(() => agent.destroy());
    let captured = await capture(upgrades, (c) => c.connect('ws://[::1]:8080/', null, null, null, { agent }));
    expect(rawValues(captured, 'host')).toEqual(['[::1]:8080']);
    captured = await capture(upgrades, (c) => c.connect('ws://[fe80::1]/', null, null, null, { agent }));
    expect(rawValues(captured, 'host')).toEqual(['[fe80::1]']);
  });

  test('a user header spelled "Host" replaces the computed one', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const captured = await capture(upgrades, (c) =>
      c.connect(`ws://127.0.0.1:${port}/`, null, null, { Host: 'virtual.example:1234' }),
    );
    expect(rawValues(captured, 'host')).toEqual(['virtual.example:1234']);
  });

  test('user headers cannot override Upgrade, Connection, version or key; other headers pass through', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    let nonce: string | undefined;
    const captured = await capture(upgrades, (c) => {
      c.connect(`ws://127.0.0.1:${port}/`, null, null, {
        Upgrade: 'h2c',
        Connection: 'close',
        'Sec-WebSocket-Version': '8',
        'Sec-WebSocket-Key': 'AAAAAAAAAAAAAAAAAAAAAA==',
        'X-Custom': 'custom value',
        Cookie: 'a=b',
      });
      nonce = c.base64nonce;
    });
    expect(rawValues(captured, 'upgrade')).toEqual(['websocket']);
    expect(rawValues(captured, 'connection')).toEqual(['Upgrade']);
    expect(rawValues(captured, 'sec-websocket-version')).toEqual(['13']);
    expect(rawValues(captured, 'sec-websocket-key')).toEqual([nonce]);
    expect(nonce).not.toBe('AAAAAAAAAAAAAAAAAAAAAA==');
    expect(rawValues(captured, 'x-custom')).toEqual(['custom value']);
    expect(rawValues(captured, 'cookie')).toEqual(['a=b']);
  });

  test('Sec-WebSocket-Protocol lists the protocols joined with ", " in the given order', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const captured = await capture(upgrades, (c) => c.connect(`ws://127.0.0.1:${port}/`, ['chat', 'superchat', 'Echo-1']));
    expect(rawValues(captured, 'sec-websocket-protocol')).toEqual(['chat, superchat, Echo-1']);
  });

  test('version 13 sends Origin', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const captured = await capture(upgrades, (c) => c.connect(`ws://127.0.0.1:${port}/`, null, 'http://origin.test'));
    expect(rawValues(captured, 'origin')).toEqual(['http://origin.test']);
    expect(captured.headers['sec-websocket-origin']).toBeUndefined();
  });

  test('version 8 sends Sec-WebSocket-Origin and Sec-WebSocket-Version 8', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const client = new WebSocketClient({ webSocketVersion: 8 });
    client.on('connectFailed', () => undefined);
    client.connect(`ws://127.0.0.1:${port}/`, null, 'http://origin.test');
    const captured = await upgrades.next();
    captured.socket.destroy();
    expect(rawValues(captured, 'sec-websocket-origin')).toEqual(['http://origin.test']);
    expect(captured.headers.origin).toBeUndefined();
    expect(rawValues(captured, 'sec-websocket-version')).toEqual(['8']);
  });

  test('an empty origin sends no origin header', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const captured = await capture(upgrades, (c) => c.connect(`ws://127.0.0.1:${port}/`, null, ''));
    expect(captured.headers.origin).toBeUndefined();
  });

  test('the request target is path plus query; the fragment is dropped', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const captured = await capture(upgrades, (c) => c.connect(`ws://127.0.0.1:${port}/some/path?x=1&y=%20z#frag`));
    expect(captured.request.url).toBe('/some/path?x=1&y=%20z');
  });

  test('a query without a path goes to /?query', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const captured = await capture(upgrades, (c) => c.connect(`ws://127.0.0.1:${port}?token=abc`));
    expect(captured.request.url).toBe('/?token=abc');
  });

  test('a WHATWG URL object keeps its path and query', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const target = new URL(`ws://127.0.0.1:${port}/whatwg/path?q=1`);
    let client: { url: unknown } | null = null;
    const captured = await capture(upgrades, (c) => {
      client = c;
      c.connect(target as never);
    });
    expect(captured.request.url).toBe('/whatwg/path?q=1');
    // compat: client.url is the object the caller passed, as in WebSocket-Node.
    expect(client!.url).toBe(target);
    expect(rawValues(captured, 'host')).toEqual([`127.0.0.1:${port}`]);
  });

  test('a legacy url.parse() object is used as given', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const legacy = legacyUrlParse(`ws://127.0.0.1:${port}/legacy/path?q=2`);
    const captured = await capture(upgrades, (c) => c.connect(legacy));
    expect(captured.request.url).toBe('/legacy/path?q=2');
  });

  test('extraRequestOptions cannot change method, path, host or headers', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const captured = await capture(upgrades, (c) =>
      c.connect(`ws://127.0.0.1:${port}/real`, null, null, null, {
        method: 'POST',
        path: '/fake',
        hostname: 'example.invalid',
        headers: { 'X-From-Options': '1' },
      }),
    );
    expect(captured.request.method).toBe('GET');
    expect(captured.request.url).toBe('/real');
    expect(captured.headers['x-from-options']).toBeUndefined();
  });

  test('tlsOptions.headers are not sent on plain ws://', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const client = new WebSocketClient({ tlsOptions: { headers: { 'X-Tls-Only': 'yes' } } });
    client.on('connectFailed', () => undefined);
    client.connect(`ws://127.0.0.1:${port}/`);
    const captured = await upgrades.next();
    captured.socket.destroy();
    expect(captured.headers['x-tls-only']).toBeUndefined();
  });
});
