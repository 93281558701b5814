/**
 * What the package tests share: npm and tsc runs for a consumer project that installed `websocket`
 * (the tarball in consumer.test.ts, a clone linked with `file:` in clone.test.ts), the consumer's
 * TypeScript, and the stale-build check.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const TSC = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
const TIMEOUT_MS = 120_000;

/** Runs npm with the same npm CLI that runs this test when there is one. */
export function npm(args: string[], cwd: string): string {
  const options = {
    cwd,
    encoding: 'utf8' as const,
    timeout: TIMEOUT_MS,
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
  };
  const npmCli = process.env['npm_execpath'];
  try {
    return npmCli !== undefined && path.basename(npmCli) === 'npm-cli.js'
      ? execFileSync(process.execPath, [npmCli, ...args], options)
      : execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, { ...options, shell: process.platform === 'win32' });
  } catch (e) {
    const failure = e as { stdout?: string; stderr?: string; message?: string };
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}:\n${failure.stderr ?? ''}${failure.stdout ?? ''}${failure.message ?? ''}`);
  }
}

/**
 * Sources in lib/ whose build output is missing or older than they are: lib/X.js next to them, and
 * types/lib/X.d.ts (the declarations). The package tests ship or link the build, so it must be fresh.
 */
export function staleBuildFiles(): string[] {
  const stale: string[] = [];
  const isStale = (output: string, source: string): boolean =>
    !fs.existsSync(output) || fs.statSync(output).mtimeMs + 1 < fs.statSync(source).mtimeMs;
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        const rel = path.relative(ROOT, full);
        const js = full.slice(0, -3) + '.js';
        const dts = path.join(ROOT, 'types', rel.slice(0, -3) + '.d.ts');
        if (isStale(js, full) || isStale(dts, full)) stale.push(rel);
      }
    }
  };
  walk(path.join(ROOT, 'lib'));
  return stale;
}

/** Compiler flags of one consumer setting. */
export interface TsMode {
  name: string;
  flags: string[];
}

/** Strict, and DefinitelyTyped's settings for @types/websocket (how its users' code was checked). */
export const TS_MODES: TsMode[] = [
  {
    name: 'strict',
    flags: ['--strict', '--target', 'ES2022', '--lib', 'ES2022'],
  },
  {
    name: 'DefinitelyTyped settings (strictNullChecks off)',
    flags: [
      '--strict',
      'false',
      '--strictNullChecks',
      'false',
      '--strictFunctionTypes',
      '--noImplicitAny',
      '--noImplicitThis',
      '--target',
      'ES6',
      '--lib',
      'ES6',
    ],
  },
];

/**
 * Uses every deep path and the root the way WebSocket-Node users do. If a deep path resolved to a
 * lib/*.ts source, the consumer's settings would apply to our code (WebSocketClient.ts's union
 * narrowing once failed without strictNullChecks); the tests also check that no lib/ file is read.
 */
export const TS_DEEP_CHECK = `import * as http from 'http';
import * as websocket from 'websocket';
import { ICookie, IServerConfig } from 'websocket';
import WebSocketServer = require('websocket/lib/WebSocketServer');
import WebSocketClient = require('websocket/lib/WebSocketClient');
import WebSocketConnection = require('websocket/lib/WebSocketConnection');
import WebSocketFrame = require('websocket/lib/WebSocketFrame');
import WebSocketRequest = require('websocket/lib/WebSocketRequest');
import WebSocketRouter = require('websocket/lib/WebSocketRouter');
import WebSocketRouterRequest = require('websocket/lib/WebSocketRouterRequest');
import W3CWebSocket = require('websocket/lib/W3CWebSocket');
import deprecation = require('websocket/lib/Deprecation');
import version = require('websocket/lib/version');
import ServerFromJs from 'websocket/lib/WebSocketServer.js';

const httpServer = http.createServer();
const config: IServerConfig = { httpServer, autoAcceptConnections: false };
const server: websocket.server = new WebSocketServer(config);
const sameServer: WebSocketServer = new ServerFromJs({ httpServer });
const router: WebSocketRouter = new websocket.router({ server });
router.mount('/chat', 'chat', (request: WebSocketRouterRequest) => {
  const cookies: ICookie[] = request.cookies;
  const maxage: number | undefined = cookies[0] ? cookies[0].maxage : undefined;
  const conn: WebSocketConnection = request.accept(request.origin, [{ name: 'seen', value: '1', maxage: 60 }]);
  conn.on('message', (message) => (message.type === 'utf8' ? conn.sendUTF(message.utf8Data) : conn.sendBytes(message.binaryData)));
  console.log(maxage);
});
server.on('request', (request: WebSocketRequest) => request.reject(404));

const client: websocket.client = new WebSocketClient({ webSocketVersion: 13 });
client.on('connect', (conn: websocket.connection) => {
  const frame = new WebSocketFrame();
  frame.opcode = 0x09;
  frame.fin = true;
  frame.binaryPayload = Buffer.from('ping');
  conn.sendFrame(frame);
  conn.close(WebSocketConnection.CLOSE_REASON_NORMAL, 'done');
});
client.connect('ws://127.0.0.1:8080/chat', 'chat');

const ws: websocket.w3cwebsocket = new W3CWebSocket('ws://127.0.0.1:8080/chat', 'chat');
const onclose: (event: websocket.ICloseEvent) => void = ws.onclose;
ws.onclose = onclose;
ws.onmessage = (event) => console.log(event.data);
deprecation.disableWarnings = true;
const v: string = version;
console.log(sameServer, v);
`;

/** What tsc reported for a consumer. */
export interface ConsumerCompile {
  ok: boolean;
  errors: string[];
  /** Absolute paths of the files in the program (--listFiles). */
  files: string[];
}

/** Runs tsc in `cwd` on `sources` (relative paths) with the consumer's mode. */
export function compileConsumer(cwd: string, sources: string[], mode: TsMode): ConsumerCompile {
  const args = [
    TSC,
    '--noEmit',
    '--esModuleInterop',
    '--module',
    'commonjs',
    '--moduleResolution',
    'node10',
    ...mode.flags,
    // The consumer has no @types/node of its own; lend it the repo's.
    '--typeRoots',
    path.join(ROOT, 'node_modules', '@types'),
    '--types',
    'node',
    '--pretty',
    'false',
    '--listFiles',
    ...sources,
  ];
  let out = '';
  let ok = true;
  try {
    out = execFileSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    ok = false;
    const failure = e as { stdout?: string; stderr?: string; message?: string };
    out = `${failure.stdout ?? ''}${failure.stderr ?? failure.message ?? ''}`;
  }
  const lines = out.split(/\r?\n/);
  const errors = lines.filter((l) => / error TS\d+/.test(l) || /^error TS\d+/.test(l));
  const files = lines.filter((l) => path.isAbsolute(l) && fs.existsSync(l));
  return { ok, errors, files };
}

/**
 * Files of the installed package (resolved through any symlink) that tsc read, relative to the
 * package root. Only the root entry and types/ may appear: never lib/, where the sources live.
 */
export function packageFilesRead(run: ConsumerCompile, consumer: string): string[] {
  const pkgDir = fs.realpathSync(path.join(consumer, 'node_modules', 'websocket'));
  return run.files
    .map((f) => fs.realpathSync(f))
    .filter((f) => !path.relative(pkgDir, f).startsWith('..'))
    .map((f) => path.relative(pkgDir, f).replace(/\\/g, '/'));
}
