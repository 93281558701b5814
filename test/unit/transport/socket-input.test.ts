/**
 * SocketInput (lib/transport/socket-input.ts): received chunks are batched and parsed on the next
 * tick; the socket's flow is switched for independent reasons (INFLATING, BACKPRESSURE, the
 * application's pause), each released alone; the socket's own 'pause'/'resume' events caused by
 * our reasons are not reported as the application's. Flow is checked on a real socket pair: bytes
 * the peer sends are not read while any reason holds.
 */
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { BACKPRESSURE, INFLATING, SocketInput, type InputHost } from '../../../lib/transport/socket-input';

const tick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));
const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** A few turns of the event loop, long enough for bytes on 127.0.0.1 to arrive if they are read. */
async function turns(n = 10): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 2));
}

/** A host that takes every batch, as the connection's processReceivedData does. */
class TakingHost implements InputHost {
  input!: SocketInput;
  readonly batches: string[][] = [];
  processReceivedData(): void {
    const chunks = this.input.take();
    this.batches.push((chunks ?? []).map((c) => c.toString()));
  }
}

describe('SocketInput: receive batching', () => {
  /** Receive batching needs no stream: a stand-in socket. */
  function setup() {
    const host = new TakingHost();
    const input = new SocketInput({} as net.Socket, host);
    host.input = input;
    return { host, input };
  }

  test('chunks pushed in one tick are parsed together on the next tick, in order, once', async () => {
    const { host, input } = setup();
    input.push(Buffer.from('a'));
    input.push(Buffer.from('b'));
    input.push(Buffer.from('c'));
    expect(host.batches).toEqual([]);
    expect(input.hasReceived).toBe(true);
    await tick();
    expect(host.batches).toEqual([['a', 'b', 'c']]);
    expect(input.hasReceived).toBe(false);
    await immediate();
    expect(host.batches).toHaveLength(1);
  });

  test('a chunk pushed while a batch is processed is parsed on a later tick', async () => {
    const { host, input } = setup();
    const process = host.processReceivedData.bind(host);
    let pushed = false;
    host.processReceivedData = () => {
      process();
      if (!pushed) {
        pushed = true;
        input.push(Buffer.from('during'));
      }
    };
    input.push(Buffer.from('first'));
    await immediate();
    expect(host.batches).toEqual([['first'], ['during']]);
  });

  test('schedule() with nothing received runs nothing; discard() drops what waits', async () => {
    const { host, input } = setup();
    input.schedule();
    await immediate();
    expect(host.batches).toEqual([]);
    input.push(Buffer.from('dropped'));
    input.discard();
    expect(input.hasReceived).toBe(false);
    await immediate();
    // The tick still runs but finds nothing.
    expect(host.batches.flat()).toEqual([]);
  });

  test('take() empties the batch; a later push schedules a new tick', async () => {
    const { host, input } = setup();
    input.push(Buffer.from('x'));
    expect(input.take()?.map(String)).toEqual(['x']);
    expect(input.take()).toBeNull();
    input.push(Buffer.from('y'));
    await immediate();
    expect(host.batches.flat()).toContain('y');
  });
});

describe('SocketInput: flow reasons on a real socket', () => {
  let server: net.Server;
  let local: net.Socket;
  let remote: net.Socket;
  let input: SocketInput;
  let host: TakingHost;
  /** The socket's own pause/resume events, as the connection would classify them. */
  let events: string[];
  /** Bytes our end has read. */
  let read: string;

  beforeEach(async () => {
    server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    local = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    await new Promise<void>((resolve) => local.once('connect', resolve));
    remote = await accepted;
    remote.on('error', () => undefined);
    local.on('error', () => undefined);
    host = new TakingHost();
    input = new SocketInput(local, host);
    host.input = input;
    events = [];
    read = '';
    // As socket-binding does: data goes through the input; pause/resume are classified.
    local.on('data', (chunk: Buffer) => {
      read += chunk.toString();
      input.push(chunk);
    });
    local.on('pause', () => events.push(input.isUserPauseEvent() ? 'user pause' : 'own pause'));
    local.on('resume', () => events.push(input.isUserResumeEvent() ? 'user resume' : 'own resume'));
    await turns(2);
    events.length = 0;
  });

  afterEach(async () => {
    local.destroy();
    remote.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Sends `text` from the peer and reports whether our end read it within a few turns. */
  async function peerSends(text: string): Promise<boolean> {
    const before = read.length;
    remote.write(text);
    await turns();
    return read.length > before;
  }

  test('INFLATING stops reading; releasing it resumes; the bytes sent meanwhile arrive then', async () => {
    expect(await peerSends('a')).toBe(true);
    input.stop(INFLATING);
    expect(input.has(INFLATING)).toBe(true);
    expect(local.isPaused()).toBe(true);
    expect(await peerSends('b')).toBe(false);
    input.release(INFLATING);
    expect(input.has(INFLATING)).toBe(false);
    await turns();
    expect(read).toBe('ab');
    // The batched chunks reached the host.
    expect(host.batches.flat().join('')).toBe('ab');
  });

  test('two reasons: releasing one keeps reading stopped until the other goes too', async () => {
    input.stop(INFLATING);
    input.stop(BACKPRESSURE);
    input.release(INFLATING);
    expect(local.isPaused()).toBe(true);
    expect(await peerSends('x')).toBe(false);
    input.release(BACKPRESSURE);
    await turns();
    expect(read).toBe('x');
  });

  test('releasing a reason that is not held changes nothing', async () => {
    input.stop(BACKPRESSURE);
    input.release(INFLATING);
    expect(local.isPaused()).toBe(true);
    expect(await peerSends('y')).toBe(false);
    input.release(BACKPRESSURE);
    await turns();
    expect(read).toBe('y');
  });

  test("the application's pause outlives our reasons; its resume waits for them", async () => {
    input.pauseByUser();
    input.stop(INFLATING);
    input.release(INFLATING);
    expect(local.isPaused()).toBe(true);
    expect(await peerSends('1')).toBe(false);
    input.stop(BACKPRESSURE);
    input.resumeByUser();
    // Back-pressure still holds reading.
    expect(input.userPaused).toBe(false);
    expect(local.isPaused()).toBe(true);
    expect(await peerSends('2')).toBe(false);
    input.release(BACKPRESSURE);
    await turns();
    expect(read).toBe('12');
  });

  test("our own flow changes are not reported as the application's pause/resume events", async () => {
    input.stop(INFLATING);
    input.release(INFLATING);
    await turns(2);
    input.stop(BACKPRESSURE);
    await turns(2);
    input.release(BACKPRESSURE);
    await turns(2);
    expect(events).toEqual(['own pause', 'own resume', 'own pause', 'own resume']);
    input.pauseByUser();
    await turns(2);
    input.resumeByUser();
    await turns(2);
    expect(events.slice(4)).toEqual(['user pause', 'user resume']);
  });

  test('a stop and release of ours inside the application\'s pause cause no events and steal none', async () => {
    input.pauseByUser();
    input.stop(INFLATING);
    input.release(INFLATING);
    await turns(2);
    input.resumeByUser();
    await turns(2);
    expect(events).toEqual(['user pause', 'user resume']);
  });

  test('several stop/release cycles of ours within one tick: the application\'s next pause/resume are still reported', async () => {
    // Readable.resume() emits one 'resume' per tick however often it is called, so our own
    // resumes within one tick must not be counted more than once.
    input.stop(INFLATING);
    input.release(INFLATING);
    input.stop(BACKPRESSURE);
    input.release(BACKPRESSURE);
    await turns(2);
    expect(events.every((e) => e.startsWith('own'))).toBe(true);
    input.pauseByUser();
    await turns(2);
    input.resumeByUser();
    await turns(2);
    expect(events.filter((e) => e.startsWith('user'))).toEqual(['user pause', 'user resume']);
  });

  test('a stand-in socket without pause/resume: switching flow is a no-op, not a crash', () => {
    const bare = new SocketInput({} as net.Socket, host);
    expect(() => {
      bare.stop(INFLATING);
      bare.release(INFLATING);
      bare.pauseByUser();
      bare.resumeByUser();
    }).not.toThrow();
    expect(bare.userPaused).toBe(false);
    expect(bare.has(INFLATING)).toBe(false);
  });
});
