/**
 * The published package, seen from a consumer: `npm pack` the repo, install the tarball into a
 * fresh project (as `websocket`, the drop-in alias, and under its own name), and use it the ways
 * WebSocket-Node users do: CommonJS root and deep requires, ESM default/namespace/named imports,
 * TypeScript, and a real echo round trip. Nothing here reads the repo's lib/ directly, so a file
 * missing from package.json "files" or a broken emitted file shows up.
 *
 * The tarball is packed with --ignore-scripts (so the build does not rewrite lib/*.js while other
 * test files run it); `npm test` builds first, and a stale build fails the check below.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileConsumer, npm, packageFilesRead, staleBuildFiles, TS_DEEP_CHECK, TS_MODES } from './consumer-helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const TIMEOUT_MS = 120_000;

// Upstream's keys in upstream's order, then ours (stream adapters, the promise API's close error).
const UPSTREAM_KEYS = ['server', 'client', 'router', 'frame', 'request', 'connection', 'w3cwebsocket', 'deprecation', 'version'];
const ROOT_KEYS = [...UPSTREAM_KEYS, 'createWebSocketStream', 'WebSocketStream', 'WebSocketError', 'ConnectionClosedError', 'RedisBroker'];

/** Runs a script of the consumer with node and parses the JSON it prints last. */
function runNode(cwd: string, file: string): unknown {
  let out: string;
  try {
    out = execFileSync(process.execPath, [file], {
      cwd,
      encoding: 'utf8',
      timeout: 30_000,
      stdio: ['ignore', 'pipe', 'pipe'],
      // A clean environment for module resolution: nothing from the repo may leak in. NODE_OPTIONS
      // stays: .ci/node-versions.sh makes deprecation warnings throw through it.
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? os.tmpdir(),
        ...(process.env['NODE_OPTIONS'] !== undefined ? { NODE_OPTIONS: process.env['NODE_OPTIONS'] } : {}),
      },
    });
  } catch (e) {
    const failure = e as { stdout?: string; stderr?: string; message?: string };
    throw new Error(`node ${file} failed:\n${failure.stderr ?? ''}${failure.stdout ?? ''}${failure.message ?? ''}`);
  }
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? 'null');
}

const CJS_CHECK = `'use strict';
const root = require('websocket');
const deep = {
  server: require('websocket/lib/WebSocketServer'),
  client: require('websocket/lib/WebSocketClient'),
  connection: require('websocket/lib/WebSocketConnection'),
  frame: require('websocket/lib/WebSocketFrame'),
  request: require('websocket/lib/WebSocketRequest'),
  router: require('websocket/lib/WebSocketRouter'),
  w3cwebsocket: require('websocket/lib/W3CWebSocket'),
  deprecation: require('websocket/lib/Deprecation'),
  version: require('websocket/lib/version'),
};
const RouterRequest = require('websocket/lib/WebSocketRouterRequest');
const utils = require('websocket/lib/utils');
const own = require('websocket-node-ts');
const sameAsRoot = {};
for (const key of Object.keys(deep)) sameAsRoot[key] = deep[key] === root[key];
console.log(JSON.stringify({
  resolved: require.resolve('websocket'),
  resolvedOwn: require.resolve('websocket-node-ts'),
  packageName: require('websocket/package.json').name,
  keys: Object.keys(root),
  ownKeys: Object.keys(own),
  types: Object.fromEntries(Object.keys(root).map((k) => [k, typeof root[k]])),
  libWebsocketIsRoot: require('websocket/lib/websocket') === root,
  sameAsRoot,
  closeNormal: deep.connection.CLOSE_REASON_NORMAL,
  w3cStatics: [root.w3cwebsocket.CONNECTING, root.w3cwebsocket.OPEN, root.w3cwebsocket.CLOSING, root.w3cwebsocket.CLOSED],
  routerRequest: typeof RouterRequest === 'function' ? RouterRequest.name : typeof RouterRequest,
  routerRequestNotAtRoot: !Object.values(root).includes(RouterRequest),
  allocLength: utils.bufferAllocUnsafe(7).length,
  fromString: utils.bufferFromString('hi', 'utf8').toString('hex'),
  version: root.version,
}));
`;

const ESM_CHECK = `import websocket from 'websocket';
import * as ns from 'websocket';
import { server, client, router, frame, request, connection, w3cwebsocket, deprecation, version } from 'websocket';
import { createWebSocketStream, WebSocketStream, WebSocketError, ConnectionClosedError, RedisBroker } from 'websocket';
import WebSocketServer from 'websocket/lib/WebSocketServer.js';
import WebSocketConnection from 'websocket/lib/WebSocketConnection.js';
const named = { server, client, router, frame, request, connection, w3cwebsocket, deprecation, version, createWebSocketStream, WebSocketStream, WebSocketError, ConnectionClosedError, RedisBroker };
console.log(JSON.stringify({
  defaultKeys: Object.keys(websocket),
  nsDefaultIsDefault: ns.default === websocket,
  // Node 23 and later also export a CommonJS module's module.exports under the name 'module.exports'.
  nsKeys: Object.keys(ns).filter((k) => k !== 'module.exports').sort(),
  nsModuleExports: 'module.exports' in ns ? ns['module.exports'] === websocket : 'absent',
  namedSame: Object.fromEntries(Object.keys(named).map((k) => [k, named[k] !== undefined && named[k] === websocket[k]])),
  nsSame: Object.fromEntries(Object.keys(named).map((k) => [k, ns[k] === websocket[k]])),
  deepServer: WebSocketServer === websocket.server,
  deepCloseNormal: WebSocketConnection.CLOSE_REASON_NORMAL,
  w3cConstructs: typeof new w3cwebsocket('ws://127.0.0.1:1/').close === 'function',
}));
`;

// Echo over 127.0.0.1: WebSocketClient (text + binary) then W3CWebSocket (text), both against a
// WebSocketServer, everything from the installed package.
const ROUND_TRIP = `'use strict';
const http = require('http');
const { server: WebSocketServer, client: WebSocketClient, w3cwebsocket: W3CWebSocket } = require('websocket');
const result = { echoes: [], closes: [], w3c: null };
const httpServer = http.createServer((req, res) => { res.writeHead(404); res.end(); });
const wsServer = new WebSocketServer({ httpServer, autoAcceptConnections: false });
wsServer.on('request', (req) => {
  const conn = req.accept('echo-protocol', req.origin);
  conn.on('message', (m) => (m.type === 'utf8' ? conn.sendUTF(m.utf8Data) : conn.sendBytes(m.binaryData)));
  conn.on('close', (code, description) => result.closes.push(code + ' ' + description));
});
const fail = (err) => { console.error(err); process.exit(1); };
setTimeout(() => fail(new Error('round trip timed out: ' + JSON.stringify(result))), 20000).unref();
httpServer.listen(0, '127.0.0.1', () => {
  const url = 'ws://127.0.0.1:' + httpServer.address().port + '/';
  const client = new WebSocketClient();
  client.on('connectFailed', fail);
  client.on('connect', (conn) => {
    conn.on('message', (m) => {
      result.echoes.push(m.type === 'utf8' ? 'utf8:' + m.utf8Data : 'binary:' + m.binaryData.toString('hex'));
      if (result.echoes.length === 2) conn.close(1000, 'client done');
    });
    conn.on('close', () => {
      const ws = new W3CWebSocket(url, 'echo-protocol');
      ws.onerror = () => fail(new Error('W3CWebSocket error'));
      ws.onopen = () => ws.send('w3c hello');
      ws.onmessage = (e) => { result.w3c = e.data; ws.close(4001, 'w3c done'); };
      ws.onclose = (e) => {
        result.w3cClose = e.code + ' ' + e.wasClean;
        // The server's 'close' may land just after the client's.
        setTimeout(() => { wsServer.shutDown(); httpServer.close(); console.log(JSON.stringify(result)); }, 100);
      };
    });
    conn.sendUTF('héllo');
    conn.sendBytes(Buffer.from([0, 1, 254, 255]));
  });
  client.connect(url, 'echo-protocol');
});
`;

const TS_CHECK = `import * as http from 'http';
import * as websocket from 'websocket';
import { w3cwebsocket, IMessage, Message } from 'websocket';
import WebSocketServer = require('websocket/lib/WebSocketServer');
import WebSocketConnection = require('websocket/lib/WebSocketConnection');

const httpServer = http.createServer();
const wsServer: websocket.server = new websocket.server({ httpServer, autoAcceptConnections: false });
wsServer.on('request', (request: websocket.request) => {
  if (request.origin !== 'http://example.test') {
    request.reject(403, 'origin');
    return;
  }
  const connection: websocket.connection = request.accept('echo-protocol', request.origin);
  connection.on('message', (message: Message) => {
    if (message.type === 'utf8') connection.sendUTF(message.utf8Data);
    else connection.sendBytes(message.binaryData);
  });
  connection.on('close', (code: number, description: string) => {
    const normal: boolean = code === WebSocketConnection.CLOSE_REASON_NORMAL;
    void normal;
    void description;
  });
});
const deepServer: WebSocketServer = new WebSocketServer({ httpServer });
deepServer.shutDown();

const client = new websocket.client();
client.on('connect', (connection: websocket.connection) => connection.sendUTF('hi'));
client.on('connectFailed', (error: Error) => console.error(error.message));
client.connect('ws://127.0.0.1:8080/', 'echo-protocol');

const ws = new w3cwebsocket('ws://127.0.0.1:8080/', 'echo-protocol');
ws.onmessage = (event) => {
  const data: string | Buffer | ArrayBuffer = event.data;
  void data;
};
ws.onclose = (event) => console.log(event.code, event.reason, event.wasClean);
const legacy: IMessage = { type: 'utf8', utf8Data: 'x' };
void legacy;
const version: string = websocket.version;
void version;
`;

describe('the packed package in a consumer project', () => {
  let tmp = '';
  let consumer = '';
  let packedFiles: string[] = [];

  beforeAll(() => {
    const stale = staleBuildFiles();
    if (stale.length > 0) {
      throw new Error(`lib/ has TypeScript newer than its build; run \`npm run build\` first: ${stale.join(', ')}`);
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-consumer-'));
    const packOut = npm(['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], ROOT);
    const packed = JSON.parse(packOut.slice(packOut.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const info = packed[0];
    if (info === undefined) throw new Error(`npm pack printed no package: ${packOut}`);
    packedFiles = info.files.map((f) => f.path.replace(/\\/g, '/'));
    const tarball = path.join(tmp, info.filename);

    consumer = path.join(tmp, 'consumer');
    fs.mkdirSync(consumer);
    fs.writeFileSync(
      path.join(consumer, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, license: 'MIT' }, null, 2),
    );
    // The package has no dependencies, so this needs nothing but the local tarball.
    npm(
      ['install', '--no-audit', '--no-fund', '--ignore-scripts', `websocket@file:${tarball}`, `websocket-node-ts@file:${tarball}`],
      consumer,
    );
    fs.writeFileSync(path.join(consumer, 'check-cjs.js'), CJS_CHECK);
    fs.writeFileSync(path.join(consumer, 'check-esm.mjs'), ESM_CHECK);
    fs.writeFileSync(path.join(consumer, 'round-trip.js'), ROUND_TRIP);
    fs.mkdirSync(path.join(consumer, 'src'));
    fs.writeFileSync(path.join(consumer, 'src', 'check.ts'), TS_CHECK);
    fs.writeFileSync(path.join(consumer, 'src', 'deep.ts'), TS_DEEP_CHECK);
  }, TIMEOUT_MS);

  afterAll(() => {
    if (tmp !== '') fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the tarball ships the build and declarations, no TypeScript sources', () => {
    const tsSources = packedFiles.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
    expect(tsSources).toEqual([]);
    for (const name of [
      'websocket',
      'WebSocketServer',
      'WebSocketClient',
      'WebSocketConnection',
      'WebSocketFrame',
      'WebSocketRequest',
      'WebSocketRouter',
      'WebSocketRouterRequest',
      'W3CWebSocket',
      'Deprecation',
      'version',
      'utils',
      'browser',
    ]) {
      expect(packedFiles).toContain(`lib/${name}.js`);
      expect(packedFiles).toContain(`types/lib/${name}.d.ts`);
    }
    // Declarations live in types/ (plus the root index.d.ts), never next to the lib/ sources of a clone.
    expect(packedFiles.filter((f) => f.endsWith('.d.ts') && f !== 'index.d.ts' && !f.startsWith('types/'))).toEqual([]);
    expect(packedFiles).toEqual(expect.arrayContaining(['package.json', 'index.js', 'index.d.ts']));
    expect(packedFiles.filter((f) => /^(test|bench|autobahn|examples|node_modules)\//.test(f))).toEqual([]);
  });

  test('zero runtime dependencies; the install pulled in nothing else', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(consumer, 'node_modules', 'websocket', 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(manifest['name']).toBe('websocket-node-ts');
    for (const field of ['dependencies', 'optionalDependencies', 'bundleDependencies', 'bundledDependencies']) {
      const value = manifest[field];
      expect([field, value === undefined ? 0 : Object.keys(value as object).length]).toEqual([field, 0]);
    }
    // The Redis clients RedisBroker works with are the user's: optional peers, which npm does not install.
    const peers = manifest['peerDependencies'] as Record<string, string>;
    const peersMeta = manifest['peerDependenciesMeta'] as Record<string, { optional?: boolean }>;
    expect(Object.keys(peers).sort()).toEqual(['ioredis', 'redis']);
    for (const name of Object.keys(peers)) expect([name, peersMeta[name]?.optional]).toEqual([name, true]);
    const installed = fs.readdirSync(path.join(consumer, 'node_modules')).filter((n) => !n.startsWith('.'));
    expect(installed.sort()).toEqual(['websocket', 'websocket-node-ts']);
  });

  test('CommonJS: root keys in order, deep requires give the same constructors', () => {
    const r = runNode(consumer, 'check-cjs.js') as Record<string, unknown>;
    expect(r['resolved']).toBe(path.join(fs.realpathSync(consumer), 'node_modules', 'websocket', 'index.js'));
    expect(r['resolvedOwn']).toBe(path.join(fs.realpathSync(consumer), 'node_modules', 'websocket-node-ts', 'index.js'));
    expect(r['packageName']).toBe('websocket-node-ts');
    expect(r['keys']).toEqual(ROOT_KEYS);
    expect(r['ownKeys']).toEqual(ROOT_KEYS);
    expect(r['types']).toEqual({
      server: 'function',
      client: 'function',
      router: 'function',
      frame: 'function',
      request: 'function',
      connection: 'function',
      w3cwebsocket: 'function',
      deprecation: 'object',
      version: 'string',
      createWebSocketStream: 'function',
      WebSocketStream: 'function',
      WebSocketError: 'function',
      ConnectionClosedError: 'function',
      RedisBroker: 'function',
    });
    expect(r['libWebsocketIsRoot']).toBe(true);
    expect(r['sameAsRoot']).toEqual(Object.fromEntries(UPSTREAM_KEYS.map((k) => [k, true])));
    expect(r['closeNormal']).toBe(1000);
    expect(r['w3cStatics']).toEqual([0, 1, 2, 3]);
    expect(r['routerRequest']).toBe('WebSocketRouterRequest');
    expect(r['routerRequestNotAtRoot']).toBe(true);
    expect(r['allocLength']).toBe(7);
    expect(r['fromString']).toBe('6869');
    expect(r['version']).toBe('1.0.35');
  });

  test('ESM: default, namespace and named imports, deep default import', () => {
    const r = runNode(consumer, 'check-esm.mjs') as Record<string, unknown>;
    const allTrue = Object.fromEntries(ROOT_KEYS.map((k) => [k, true]));
    expect(r['defaultKeys']).toEqual(ROOT_KEYS);
    expect(r['nsDefaultIsDefault']).toBe(true);
    expect(r['nsKeys']).toEqual([...ROOT_KEYS, 'default'].sort());
    expect([true, 'absent']).toContain(r['nsModuleExports']);
    expect(r['namedSame']).toEqual(allTrue);
    expect(r['nsSame']).toEqual(allTrue);
    expect(r['deepServer']).toBe(true);
    expect(r['deepCloseNormal']).toBe(1000);
    expect(r['w3cConstructs']).toBe(true);
  });

  test('an echo round trip with server, client and W3CWebSocket from the installed package', () => {
    const r = runNode(consumer, 'round-trip.js') as Record<string, unknown>;
    expect(r['echoes']).toEqual(['utf8:héllo', 'binary:0001feff']);
    expect(r['w3c']).toBe('w3c hello');
    // The closer's own code; wasClean is false for anything but 1000, as in WebSocket-Node
    // (see docs/W3CWebSocket.md).
    expect(r['w3cClose']).toBe('4001 false');
    expect(r['closes']).toEqual(['1000 client done', '4001 w3c done']);
  });

  test.each(TS_MODES)(
    'TypeScript ($name): the bundled declarations compile a consumer with 0 errors',
    (mode) => {
      const run = compileConsumer(consumer, ['src/check.ts', 'src/deep.ts'], mode);
      expect(run.errors).toEqual([]);
      expect(run.ok).toBe(true);
      // The declarations came from the installed package (its root entry and types/), not from the repo.
      const read = packageFilesRead(run, consumer);
      expect(read).toContain('index.d.ts');
      expect(read.filter((f) => f !== 'index.d.ts' && !f.startsWith('types/'))).toEqual([]);
      const fromRepo = run.files.filter((f) => !path.relative(ROOT, f).startsWith('..') && !f.startsWith(path.join(ROOT, 'node_modules')));
      expect(fromRepo).toEqual([]);
    },
    TIMEOUT_MS,
  );
});
