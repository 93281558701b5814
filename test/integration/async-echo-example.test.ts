/**
 * examples/async-echo, run as a user runs it: the server and the client as separate Node processes
 * (each loading the package through require('websocket'), so this needs `npm run build` first),
 * over 127.0.0.1 on a free port. Checks what they print and how they exit, and that the server's
 * shutdown closes open connections with 1001 and waits for them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import websocket = require('../../lib/websocket');
import type { ConnectResult } from '../../lib/promises/results';
import { cleanup, onCleanup, until } from '../helpers/server';

const ROOT = path.resolve(__dirname, '../..');
const SERVER_SCRIPT = path.join(ROOT, 'examples', 'async-echo', 'server.js');
const CLIENT_SCRIPT = path.join(ROOT, 'examples', 'async-echo', 'client.js');
const STEP_MS = 10_000;

afterEach(cleanup);

/** A child process with its output collected, killed at teardown if still running. */
interface Running {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function run(script: string, args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  // stdout and stderr together: an uncaught exception in the example then shows in the failure.
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, output: () => output, exited };
}

/** Starts the example server on a port the OS picks; resolves once it has printed that port. */
async function startServer(): Promise<{ server: Running; port: number }> {
  const server = run(SERVER_SCRIPT, [], { PORT: '0', HOST: '127.0.0.1' });
  let port = 0;
  await until(
    () => {
      const match = /Server is listening on port (\d+)/.exec(server.output());
      if (match?.[1] !== undefined) port = Number(match[1]);
      return port !== 0 || server.child.exitCode !== null;
    },
    'the example server to listen',
    STEP_MS,
  );
  if (port === 0) throw new Error(`the example server exited:\n${server.output()}`);
  return { server, port };
}

/** Resolves with the outcome, or fails the test if the process is still running after `ms`. */
async function exitWithin(running: Running, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${ms} ms; output so far:\n${running.output()}`)), ms);
  });
  try {
    return await Promise.race([running.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('examples/async-echo', () => {
  test('the client gets every echo back, closes with 1000 and exits with 0', async () => {
    const { server, port } = await startServer();
    const client = run(CLIENT_SCRIPT, [`ws://127.0.0.1:${port}/`]);

    const outcome = await exitWithin(client, STEP_MS);
    const lines = client.output().trim().split('\n');
    expect({ outcome, lines }).toEqual({
      outcome: { code: 0, signal: null },
      lines: [
        'Connected (protocol: echo-protocol)',
        "Sent: 'Hello'",
        "Sent: 'from'",
        "Sent: 'async WebSocket-Node'",
        'Sent: binary deadbeef',
        "Received: 'Hello'",
        "Received: 'from'",
        "Received: 'async WebSocket-Node'",
        'Received: binary deadbeef',
        'Connection Closed. Code: 1000 Reason: All echoes received',
      ],
    });

    // The server's loop ends normally on the client's 1000 and says so.
    await until(() => server.output().includes('disconnected'), "the server's log of the close", STEP_MS);
    const log = server.output();
    expect(log).toContain('Received Message: Hello');
    expect(log).toContain('Received Binary Message of 4 bytes');
    expect(log).toContain('Peer 127.0.0.1 disconnected. Code: 1000 Reason: All echoes received');
    expect(log).not.toContain('abnormally');
  });

  test('the client reports a refused connection and exits with 1', async () => {
    // Start and stop the server: its port is then one nothing listens on.
    const { server, port } = await startServer();
    server.child.kill('SIGTERM');
    await exitWithin(server, STEP_MS);

    const client = run(CLIENT_SCRIPT, [`ws://127.0.0.1:${port}/`]);
    const outcome = await exitWithin(client, STEP_MS);
    expect(outcome).toEqual({ code: 1, signal: null });
    expect(client.output()).toMatch(/^Error: .*ECONNREFUSED/m);
  });

  test('SIGTERM closes open connections with 1001, waits for them, and the server exits with 0', async () => {
    const { server, port } = await startServer();
    const client = new websocket.client();
    const connection = await (client.connect(`ws://127.0.0.1:${port}/`, 'echo-protocol') as ConnectResult<InstanceType<typeof websocket.connection>>);
    onCleanup(() => connection.drop());
    const closed = new Promise<[number, string]>((resolve) => connection.once('close', (code, description) => resolve([code, description])));
    // One echo first, so the server's loop is known to be running before the signal.
    const incoming = connection.messages();
    await connection.sendUTF('before shutdown');
    const first = await incoming.next();
    expect(first.value).toEqual({ type: 'utf8', utf8Data: 'before shutdown' });

    server.child.kill('SIGTERM');
    const outcome = await exitWithin(server, STEP_MS);
    expect(outcome).toEqual({ code: 0, signal: null });
    // The iterator ends normally on 1001, and 'close' reports the server's code and reason.
    expect(await incoming.next()).toEqual({ done: true, value: undefined });
    expect(await closed).toEqual([1001, 'Server shutting down']);
    const log = server.output();
    expect(log).toContain('SIGTERM: closing 1 connection(s)');
    expect(log).toContain('Closed: 1001 Server shutting down');
    expect(log).toContain('Peer 127.0.0.1 disconnected. Code: 1001 Reason: Server shutting down');
    expect(log).toContain('Server stopped');
  });
});
