/**
 * Differential test of issue 11 item 1: a send reaches the socket before it returns, so a process
 * that sends and then calls `process.exit(0)` at once still delivers, as with websocket@1.0.35.
 *
 * Each scenario runs in a child process (test/differential/fixtures/exit-*.js), once on our built
 * package and once on websocket-upstream; the peer is in this process on a real socket on
 * 127.0.0.1, and what it receives from both must be the same (and what the scenario sent):
 * - server side: a raw TCP client (harness RawClient) talks to the child's WebSocketServer;
 * - client side: a raw TCP server answers the child's WebSocketClient handshake by hand.
 * Server frames are unmasked, so their bytes are compared exactly; client frames carry random mask
 * keys, so they are compared after unmasking (fin, rsv, opcode, masked, length, payload).
 *
 * The scenarios (fixtures/exit-scenarios.js) send from the 'request'/'connect' handler ("open-*")
 * or from a 'message' handler ("message-*"), the latter while we dispatch a received batch, where
 * our replies are held until the batch ends: process.exit() inside the handler must still flush
 * them (the 'exit' hook of lib/transport/socket-output.ts).
 *
 * Run `npm run build` first: the children load lib/*.js.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { OP, RawClient, binary, frame, handshake, parseResponse, text, type ParsedFrame, type Side } from './harness';

const ROOT = path.resolve(__dirname, '../..');
const FIXTURES = path.join(__dirname, 'fixtures');
const MODULES: Record<Side, string> = {
  ours: ROOT,
  upstream: path.dirname(require.resolve('websocket-upstream/package.json')),
};
const SIDES_IN_ORDER: readonly Side[] = ['upstream', 'ours'];

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'lib', 'websocket.js'))) {
    throw new Error('lib/websocket.js is missing: run `npm run build` before this test');
  }
});

// ---------------------------------------------------------------------------------------------
// Child processes

interface Child {
  readonly process: ChildProcess;
  /** Resolves with the first stdout line matching `pattern` (rejects if the child exits first). */
  line(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (null after a signal), killing the child after `timeoutMs`. */
  exited(timeoutMs?: number): Promise<number | null>;
  stderr(): string;
}

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
});

function startChild(script: string, args: string[]): Child {
  const proc = spawn(process.execPath, [path.join(FIXTURES, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let stdout = '';
  let stderr = '';
  let exitCode: number | null | undefined;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const waiter of [...waiters]) waiter();
  };
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    wake();
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  proc.on('exit', (code) => {
    exitCode = code;
    wake();
  });
  const waitFor = <T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const value = probe();
        if (value !== undefined) {
          done();
          resolve(value);
        } else if (exitCode !== undefined) {
          done();
          reject(new Error(`child ${script} ${args.join(' ')} exited (${exitCode}) before ${what}; stderr: ${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what} from ${script} ${args.join(' ')}; stderr: ${stderr}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  return {
    process: proc,
    line: (pattern, timeoutMs = 5000) =>
      waitFor(() => stdout.split('\n').map((l) => l.match(pattern)).find((m) => m !== null) ?? undefined, timeoutMs, String(pattern)),
    exited: async (timeoutMs = 5000) => {
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      try {
        if (exitCode === undefined) await new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      } finally {
        clearTimeout(timer);
      }
      return exitCode ?? null;
    },
    stderr: () => stderr,
  };
}

/** Waits for `promise`, or `ms` at most (leaving no timer behind). */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// What the peer received

interface Delivery {
  exitCode: number | null;
  /** The status line (server side) or request line (client side) the peer saw. */
  firstLine: string | null;
  frames: ParsedFrame[];
  /** Bytes after the last whole frame (a cut-off frame), hex. */
  trailing: string;
}

/** A readable digest of one frame: `text:bye`, `binary(no fin):0001…`, `close:1000:reason`. */
function summary(f: ParsedFrame): string {
  const names: Record<number, string> = { 0: 'cont', 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' };
  const name = (names[f.opcode] ?? `op${f.opcode}`) + (f.fin ? '' : '(no fin)');
  if (f.opcode === OP.CLOSE) return `${name}:${f.closeCode ?? ''}:${f.closeReason ?? ''}`;
  if (f.text !== undefined) return `${name}:${f.text}`;
  if (f.opcode === OP.PING || f.opcode === OP.PONG) return `${name}:${Buffer.from(f.payload, 'hex').toString('utf8')}`;
  return `${name}:${f.payload}`;
}

/** Client frames without their (random) masked bytes: header fields and the unmasked payload. */
function unmaskedView(f: ParsedFrame): Omit<ParsedFrame, 'bytes'> {
  const { bytes: _bytes, ...rest } = f;
  return rest;
}

// ---------------------------------------------------------------------------------------------
// Server side: the child is a WebSocketServer, we are a raw client

async function runServerScenario(side: Side, scenario: string, input: Buffer | null): Promise<Delivery> {
  const child = startChild('exit-server.js', [MODULES[side], scenario]);
  const [, port] = await child.line(/^READY (\d+)$/);
  const client = await RawClient.connect(Number(port));
  try {
    client.send(handshake({ path: '/' }));
    if (input !== null) {
      // The frame goes out once the 101 is in: the child's connection listeners are then attached.
      expect(await client.waitForHead(5000)).toBe(true);
      client.send(input);
    }
    const exitCode = await child.exited();
    // The child is gone: its kernel closed the socket after delivering what had been written.
    expect(await client.waitForClosed(5000)).toBe(true);
    const response = client.response;
    return { exitCode, firstLine: response.statusLine, frames: response.frames, trailing: response.trailing };
  } finally {
    client.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Client side: the child is a WebSocketClient, we are a raw server

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

async function runClientScenario(side: Side, scenario: string, input: Buffer | null): Promise<Delivery> {
  let received = Buffer.alloc(0);
  let closed: Promise<void> = Promise.resolve();
  let onAccepted: (socket: net.Socket) => void = () => undefined;
  const accepted = new Promise<net.Socket>((resolve) => {
    onAccepted = resolve;
  });
  const server = net.createServer((socket) => {
    server.close();
    closed = new Promise((done) => socket.on('close', () => done()));
    let answered = false;
    socket.on('error', () => {
      /* a reset from the exiting child is not what we compare */
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (answered) return;
      const headEnd = received.indexOf('\r\n\r\n');
      if (headEnd === -1) return;
      answered = true;
      const head = received.subarray(0, headEnd).toString('latin1');
      const key = /^sec-websocket-key:\s*(\S+)\s*$/im.exec(head)?.[1] ?? '';
      const accept = createHash('sha1').update(key + GUID).digest('base64');
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      onAccepted(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const child = startChild('exit-client.js', [MODULES[side], scenario, String(port)]);
  const socket = await Promise.race([
    accepted,
    child.exited(5000).then((code): never => {
      throw new Error(`client child exited (${code}) before its handshake; stderr: ${child.stderr()}`);
    }),
  ]);
  try {
    if (input !== null) {
      await child.line(/^CONNECTED$/);
      socket.write(input);
    }
    const exitCode = await child.exited();
    await within(closed, 5000);
    const parsed = parseResponse(received);
    return { exitCode, firstLine: parsed.statusLine, frames: parsed.frames, trailing: parsed.trailing };
  } finally {
    socket.destroy();
    server.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The scenarios

interface Case {
  scenario: string;
  /** What the peer sends once the connection is open (a message handler scenario needs one). */
  input?: (role: 'server' | 'client') => Buffer;
  /** What the peer must receive, as `summary()` digests. */
  expected: string[];
  title: string;
}

/** Frames towards a server are masked; towards a client, not (RFC 6455 §5.1). */
const masked = (role: 'server' | 'client'): { mask?: false } => (role === 'server' ? {} : { mask: false });
const BYTES_HEX = '0001027f80feff';
const BURST = Array.from({ length: 20 }, (_, i) => `text:message ${i}`);

const CASES: Case[] = [
  { title: "on open: sendUTF('bye'); exit", scenario: 'open-utf', expected: ['text:bye'] },
  { title: 'on open: a burst of 20 sendUTF; exit', scenario: 'open-burst', expected: BURST },
  { title: 'on open: sendBytes; exit', scenario: 'open-bytes', expected: [`binary:${BYTES_HEX}`] },
  {
    title: 'on open: send(string), send(Buffer), ping(); exit',
    scenario: 'open-send-mixed',
    expected: ['text:text via send', `binary:${BYTES_HEX}`, 'ping:are you there'],
  },
  {
    title: 'on open: sendBytes of 40000 bytes (3 fragments); exit',
    scenario: 'open-large-bytes',
    expected: [
      `binary(no fin):16384 bytes sha1:${sha1(Buffer.alloc(16384, 0x61))}`,
      `cont(no fin):16384 bytes sha1:${sha1(Buffer.alloc(16384, 0x61))}`,
      `cont:7232 bytes sha1:${sha1(Buffer.alloc(7232, 0x61))}`,
    ],
  },
  { title: "on open: close(1001, 'shutting down'); exit", scenario: 'open-close', expected: ['close:1001:shutting down'] },
  {
    title: 'on open: sendUTF, close(); exit',
    scenario: 'open-utf-then-close',
    expected: ['text:last words', 'close:1000:Normal connection closure'],
  },
  {
    title: "in 'message': sendUTF(reply); exit",
    scenario: 'message-utf',
    input: (role) => text('hello', masked(role)),
    expected: ['text:reply to hello'],
  },
  {
    title: "in 'message' after an automatic pong of the same batch: sendUTF(reply); exit",
    scenario: 'message-utf',
    input: (role) => Buffer.concat([frame({ opcode: OP.PING, payload: 'p1', ...masked(role) }), text('hello', masked(role))]),
    expected: ['pong:p1', 'text:reply to hello'],
  },
  {
    title: "in 'message': a burst of 20 sendUTF; exit",
    scenario: 'message-burst',
    input: (role) => text('go', masked(role)),
    expected: BURST,
  },
  {
    title: "in 'message': sendBytes(reply); exit",
    scenario: 'message-bytes',
    input: (role) => binary(Buffer.from([1, 2, 3, 4]), masked(role)),
    expected: ['binary:04030201'],
  },
  {
    title: "in 'message': close(); exit",
    scenario: 'message-close',
    input: (role) => text('please close', masked(role)),
    expected: ['close:1000:Normal connection closure'],
  },
  {
    title: "in 'message': sendUTF(reply), close(4000, 'done'); exit",
    scenario: 'message-utf-then-close',
    input: (role) => text('hi', masked(role)),
    expected: ['text:reply to hi', 'close:4000:done'],
  },
];

function sha1(data: Buffer): string {
  return createHash('sha1').update(data).digest('hex');
}

describe('server side: sends made just before process.exit(0) reach the raw client (as upstream)', () => {
  test.each(CASES.map((c) => [c.title, c] as const))('%s', async (_title, c) => {
    const input = c.input?.('server') ?? null;
    const result = {} as Record<Side, Delivery>;
    for (const side of SIDES_IN_ORDER) result[side] = await runServerScenario(side, c.scenario, input);

    // Upstream delivers it: the scenario shows what it is about.
    expect(result.upstream.exitCode).toBe(0);
    expect(result.upstream.firstLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(result.upstream.frames.map(summary)).toEqual(c.expected);
    // And we deliver the same frames, byte for byte (server frames are unmasked).
    expect(result.ours.exitCode).toBe(0);
    expect(result.ours.firstLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(result.ours.frames.map(summary)).toEqual(c.expected);
    expect(result.ours.frames).toEqual(result.upstream.frames);
    expect(result.ours.trailing).toBe(result.upstream.trailing);
    expect(result.ours.trailing).toBe('');
  });
});

describe('client side: sends made just before process.exit(0) reach the raw server (as upstream)', () => {
  test.each(CASES.map((c) => [c.title, c] as const))('%s', async (_title, c) => {
    const input = c.input?.('client') ?? null;
    const result = {} as Record<Side, Delivery>;
    for (const side of SIDES_IN_ORDER) result[side] = await runClientScenario(side, c.scenario, input);

    expect(result.upstream.exitCode).toBe(0);
    expect(result.upstream.firstLine).toBe('GET / HTTP/1.1');
    expect(result.upstream.frames.map(summary)).toEqual(c.expected);
    expect(result.ours.exitCode).toBe(0);
    expect(result.ours.firstLine).toBe('GET / HTTP/1.1');
    expect(result.ours.frames.map(summary)).toEqual(c.expected);
    // Client frames are masked with random keys: compare everything but the masked bytes.
    expect(result.ours.frames.every((f) => f.masked)).toBe(true);
    expect(result.ours.frames.map(unmaskedView)).toEqual(result.upstream.frames.map(unmaskedView));
    expect(result.ours.trailing).toBe('');
    expect(result.upstream.trailing).toBe('');
  });
});
