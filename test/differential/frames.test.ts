/**
 * Differential tests of the framing layer: the same frames go to a server on upstream
 * websocket@1.0.35 and to the same server on ours; the frame bytes sent back and the server-side
 * events must be equal, except for the deliberate fixes of docs/compat.md, whose tests carry the
 * compat entry's name in their title and pin both behaviours.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import {
  OP,
  afterHandshake,
  binary,
  closeFrame,
  closeFramesOf,
  comparable,
  eventsOf,
  frame,
  handshake,
  runBoth,
  runScenario,
  text,
  violation,
  type Outcome,
  type ParsedFrame,
  type ServerProgram,
  type WsConnection,
} from './harness';

const echo: ServerProgram = {};

function opcodes(outcome: Outcome): number[] {
  return outcome.frames.map((f) => f.opcode);
}

/** Frames and events must be identical; and the upstream run must show what the case is about. */
function expectSame(result: Record<'upstream' | 'ours', Outcome>): void {
  expect(result.upstream.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
  expect(comparable(result.ours)).toEqual(comparable(result.upstream));
}

const bytes = (...values: number[]): Buffer => Buffer.from(values);
const filled = (length: number, byte: number): Buffer => Buffer.alloc(length, byte);

// -----------------------------------------------------------------------------------------------

describe('echo of client messages (must match)', () => {
  const cases: Array<[string, Buffer[], number[]]> = [
    ['text', [text('hello')], [OP.TEXT, OP.CLOSE]],
    ['binary', [binary(bytes(0, 1, 2, 255))], [OP.BINARY, OP.CLOSE]],
    ['empty text', [text('')], [OP.TEXT, OP.CLOSE]],
    ['empty binary', [binary(Buffer.alloc(0))], [OP.BINARY, OP.CLOSE]],
    ['multi-byte UTF-8 text', [text('héllo € 𝄞')], [OP.TEXT, OP.CLOSE]],
    ['200-byte text (16-bit length)', [text('x'.repeat(200))], [OP.TEXT, OP.CLOSE]],
    ['binary of exactly maxReceivedFrameSize (1000)', [binary(filled(1000, 7))], [OP.BINARY, OP.CLOSE]],
    ['three messages in one write', [Buffer.concat([text('a'), binary(bytes(1)), text('c')])], [OP.TEXT, OP.BINARY, OP.TEXT, OP.CLOSE]],
    [
      'fragmented text',
      [text('Hel', { fin: false }), frame({ opcode: OP.CONT, payload: 'lo ', fin: false }), frame({ opcode: OP.CONT, payload: 'world' })],
      [OP.TEXT, OP.CLOSE],
    ],
    [
      'fragmented binary',
      [binary(bytes(1, 2), { fin: false }), frame({ opcode: OP.CONT, payload: bytes(3, 4) })],
      [OP.BINARY, OP.CLOSE],
    ],
    [
      'fragmented text with a ping between the fragments',
      [text('ab', { fin: false }), frame({ opcode: OP.PING, payload: 'p' }), frame({ opcode: OP.CONT, payload: 'cd' })],
      [OP.PONG, OP.TEXT, OP.CLOSE],
    ],
    [
      'fragmented text splitting a UTF-8 character',
      [text(bytes(0x61, 0xe2, 0x82), { fin: false }), frame({ opcode: OP.CONT, payload: bytes(0xac, 0x62) })],
      [OP.TEXT, OP.CLOSE],
    ],
    ['a frame written one byte at a time', [...text('split me').values()].map((b) => bytes(b)), [OP.TEXT, OP.CLOSE]],
    [
      'fragmented text with empty fragments',
      [text('', { fin: false }), frame({ opcode: OP.CONT, payload: '', fin: false }), frame({ opcode: OP.CONT, payload: 'z' })],
      [OP.TEXT, OP.CLOSE],
    ],
  ];

  test.each(cases)('%s', async (_name, frames, expected) => {
    const result = await runBoth(echo, afterHandshake(frames, { expectFrames: expected.length - 1, thenClose: true }));
    expect(opcodes(result.upstream)).toEqual(expected);
    expectSame(result);
  });
});

describe('outgoing fragmentation, fragmentationThreshold 10 (must match)', () => {
  const cases: Array<[string, Buffer, Record<string, unknown>, number[]]> = [
    ['25-char text: 10+10+5', text('abcdefghijklmnopqrstuvwxy'), {}, [OP.TEXT, OP.CONT, OP.CONT, OP.CLOSE]],
    ['30-byte binary: 10+10+10', binary(filled(30, 9)), {}, [OP.BINARY, OP.CONT, OP.CONT, OP.CLOSE]],
    ['10-char text: one frame', text('0123456789'), {}, [OP.TEXT, OP.CLOSE]],
    ['11-char text: 10+1', text('0123456789a'), {}, [OP.TEXT, OP.CONT, OP.CLOSE]],
    ['multi-byte text cut inside a character', text('ééééééé'), {}, [OP.TEXT, OP.CONT, OP.CLOSE]],
    ['empty text', text(''), {}, [OP.TEXT, OP.CLOSE]],
    ['fragmentOutgoingMessages false', text('abcdefghijklmnopqrstuvwxy'), { fragmentOutgoingMessages: false }, [OP.TEXT, OP.CLOSE]],
  ];

  test.each(cases)('%s', async (_name, message, config, expected) => {
    const program: ServerProgram = { config: { fragmentationThreshold: 10, ...config } };
    const result = await runBoth(program, afterHandshake([message], { expectFrames: expected.length - 1, thenClose: true }));
    expect(opcodes(result.upstream)).toEqual(expected);
    expectSame(result);
  });
});

describe('ping and pong (must match)', () => {
  const cases: Array<[string, Buffer[], number[]]> = [
    ['ping with payload is answered by a pong with the same payload', [frame({ opcode: OP.PING, payload: 'hello' })], [OP.PONG, OP.CLOSE]],
    ['empty ping', [frame({ opcode: OP.PING })], [OP.PONG, OP.CLOSE]],
    ['125-byte ping', [frame({ opcode: OP.PING, payload: filled(125, 0x70) })], [OP.PONG, OP.CLOSE]],
    ['unsolicited pong gets no answer', [frame({ opcode: OP.PONG, payload: 'x' }), text('after')], [OP.TEXT, OP.CLOSE]],
  ];

  test.each(cases)('%s', async (_name, frames, expected) => {
    const result = await runBoth(echo, afterHandshake(frames, { expectFrames: expected.length - 1, thenClose: true }));
    expect(opcodes(result.upstream)).toEqual(expected);
    expectSame(result);
  });

  test('server ping()/pong() with short payloads and with a string', async () => {
    const program: ServerProgram = {
      onMessage: (connection) => {
        connection.ping(Buffer.from('abc'));
        connection.ping('str');
        connection.ping();
        connection.pong(filled(125, 0x71));
        return true;
      },
    };
    const result = await runBoth(program, afterHandshake([text('go')], { expectFrames: 4, thenClose: true }));
    expect(opcodes(result.upstream)).toEqual([OP.PING, OP.PING, OP.PING, OP.PONG, OP.CLOSE]);
    expectSame(result);
  });
});

describe('assembleFragments: false (must match)', () => {
  test("every frame is emitted as 'frame', control frames included, and no 'message'", async () => {
    const program: ServerProgram = {
      config: { assembleFragments: false },
      onConnection: (connection, record) => {
        connection.on('frame', (f: Record<string, unknown>) => {
          record({
            ev: 'frame',
            fin: f['fin'],
            rsv1: f['rsv1'],
            mask: f['mask'],
            opcode: f['opcode'],
            length: f['length'],
            closeStatus: f['opcode'] === OP.CLOSE ? f['closeStatus'] : undefined,
            payload: (f['binaryPayload'] as Buffer).toString('hex'),
          });
        });
      },
    };
    const frames = [
      text('ab', { fin: false }),
      frame({ opcode: OP.PING, payload: 'p' }),
      frame({ opcode: OP.CONT, payload: 'cd' }),
      binary(bytes(9, 8, 7)),
      text(bytes(0xff)),
      closeFrame(1000, 'done'),
    ];
    const result = await runBoth(program, async ({ client }) => {
      client.send(handshake());
      await client.waitForHead();
      client.send(...frames);
      await client.waitForCloseFrame();
      await client.waitForEnd();
    });
    expect(eventsOf(result.upstream, 'frame')).toHaveLength(6);
    expect(eventsOf(result.upstream, 'message')).toEqual([]);
    expectSame(result);
  });
});

describe('large outgoing messages (must match)', () => {
  const sendBig: ServerProgram = {
    config: { maxReceivedFrameSize: 0x20000 },
    onMessage: (connection, message) => {
      connection.sendBytes(filled(Number(message.utf8Data), 0x5a));
      return true;
    },
  };
  const cases: Array<[string, Record<string, unknown>, string, number[]]> = [
    ['70000 bytes unfragmented (64-bit length)', { fragmentOutgoingMessages: false }, '70000', [OP.BINARY, OP.CLOSE]],
    ['70000 bytes with the default threshold (16 KiB fragments)', {}, '70000', [OP.BINARY, OP.CONT, OP.CONT, OP.CONT, OP.CONT, OP.CLOSE]],
    ['65535 bytes unfragmented (largest 16-bit length)', { fragmentOutgoingMessages: false }, '65535', [OP.BINARY, OP.CLOSE]],
    ['65536 bytes unfragmented (smallest 64-bit length)', { fragmentOutgoingMessages: false }, '65536', [OP.BINARY, OP.CLOSE]],
  ];

  test.each(cases)('%s', async (_name, config, size, expected) => {
    const program: ServerProgram = { ...sendBig, config: { ...sendBig.config, ...config } };
    const result = await runBoth(program, afterHandshake([text(size)], { expectFrames: expected.length - 1, thenClose: true }));
    expect(opcodes(result.upstream)).toEqual(expected);
    expectSame(result);
  });
});

describe('keepalive (must match)', () => {
  test('an idle peer is pinged, then dropped with 1006 "Peer not responding." and no close frame', async () => {
    const program: ServerProgram = { config: { keepalive: true, keepaliveInterval: 200, keepaliveGracePeriod: 200 } };
    const result = await runBoth(program, async ({ client }) => {
      client.send(handshake());
      await client.waitForHead();
      await client.waitForEnd(3000);
    });
    expect(result.upstream.frames.map((f) => f.bytes)).toEqual(['8900']);
    expect(eventsOf(result.upstream, 'close')).toEqual([{ ev: 'close', code: 1006, description: 'Peer not responding.' }]);
    expectSame(result);
  });

  test('data from the peer restarts the keepalive timer', async () => {
    const program: ServerProgram = { config: { keepalive: true, keepaliveInterval: 300, keepaliveGracePeriod: 300 } };
    const result = await runBoth(program, async ({ client }) => {
      client.send(handshake());
      await client.waitForHead();
      for (let i = 0; i < 4; i++) {
        await client.quiet(150);
        client.send(text(`tick${i}`));
      }
      await client.waitForFrames(4);
      client.send(closeFrame(1000));
      await client.waitForEnd();
    });
    expect(opcodes(result.upstream)).toEqual([OP.TEXT, OP.TEXT, OP.TEXT, OP.TEXT, OP.CLOSE]);
    expectSame(result);
  });
});

// -----------------------------------------------------------------------------------------------

/** The server closes when told to: message "close <code|-> <description|->". */
const closeOnCommand: ServerProgram = {
  onMessage: (connection, message, record) => {
    const [, code, description] = (message.utf8Data ?? '').split(' ');
    try {
      connection.close(code === '-' ? undefined : Number(code), description === '-' ? undefined : description);
    } catch (error) {
      record({ ev: 'closeThrew', message: (error as Error).message });
    }
    return true;
  },
};

/** Sends the command, answers the server's close frame with our own, then hangs up. */
function serverCloses(command: string) {
  return afterCommand(command, closeFrame(1000));
}

function afterCommand(command: string, reply: Buffer) {
  return async ({ client }: { client: import('./harness').RawClient }): Promise<void> => {
    client.send(handshake());
    await client.waitForHead();
    client.send(text(command));
    await client.waitForCloseFrame(1000);
    client.send(reply);
    client.end();
    await client.waitForClosed();
  };
}

describe('server-initiated close (must match)', () => {
  const cases: Array<[string, string, number, string]> = [
    ['close() sends 1000 and the default description', 'close - -', 1000, 'Normal connection closure'],
    ['close(1001)', 'close 1001 -', 1001, 'Remote peer is going away'],
    ['close(4000) has no table description, so no text', 'close 4000 -', 4000, ''],
    ['close(3001, "custom")', 'close 3001 custom', 3001, 'custom'],
    ['close(1000, "") sends no text', 'close 1000 ', 1000, ''],
    ['close(1011)', 'close 1011 -', 1011, 'Internal Server Error'],
  ];

  test.each(cases)('%s', async (_name, command, code, reason) => {
    const result = await runBoth(closeOnCommand, serverCloses(command), { allowHalfOpen: true });
    expect(closeFramesOf(result.upstream)).toEqual([{ code, reason }]);
    expectSame(result);
  });

  test('the close event reports our code even when the peer answers with another one', async () => {
    const result = await runBoth(closeOnCommand, afterCommand('close 1001 -', closeFrame(4001, 'other')), { allowHalfOpen: true });
    expect(eventsOf(result.upstream, 'close')).toEqual([{ ev: 'close', code: 1001, description: 'Remote peer is going away' }]);
    expectSame(result);
  });

  test('close() with an invalid code throws the same error (1004, 1005, 1006, 999, 5000, 2000)', async () => {
    const program: ServerProgram = {
      onMessage: (connection, _message, record) => {
        for (const code of [1004, 1005, 1006, 999, 5000, 2000]) {
          try {
            connection.close(code);
          } catch (error) {
            record({ ev: 'closeThrew', code, message: (error as Error).message });
          }
        }
        connection.close();
        return true;
      },
    };
    const result = await runBoth(program, serverCloses('x'), { allowHalfOpen: true });
    expect(eventsOf(result.upstream, 'closeThrew')).toHaveLength(6);
    expectSame(result);
  });
});

// -----------------------------------------------------------------------------------------------

describe('incoming violations and peer close frames, reference §4.7 (must match)', () => {
  const cases: Array<[string, Buffer[], number | null]> = [
    ['close 1000 + "bye"', [closeFrame(1000, 'bye')], 1000],
    ['close with a 1-byte payload', [frame({ opcode: OP.CLOSE, payload: bytes(0x03) })], 1002],
    ['close 3000 (no table description)', [closeFrame(3000)], 1000],
    ['close 4999 + a 2-byte reason', [closeFrame(4999, 'ab')], 1000],
    ['close 1000 + a 1-byte reason', [closeFrame(1000, 'x')], 1000],
    ['close 4000 + a 1-byte reason', [closeFrame(4000, 'x')], 1000],
    ['close 1000 + a 123-byte reason', [closeFrame(1000, 'r'.repeat(123))], 1000],
    ['close followed by more frames in the same write', [Buffer.concat([closeFrame(1000, 'bye'), text('ignored')])], 1000],
    ['close 1000 + invalid UTF-8 reason', [frame({ opcode: OP.CLOSE, payload: bytes(0x03, 0xe8, 0xff, 0xfe) })], 1007],
    ['frame larger than maxReceivedFrameSize (1001 > 1000)', [binary(filled(1001, 1))], 1009],
    [
      'fragmented message larger than maxReceivedMessageSize (800 + 800 > 1500)',
      [binary(filled(800, 1), { fin: false }), frame({ opcode: OP.CONT, payload: filled(800, 2) })],
      1009,
    ],
    ['single-frame text with invalid UTF-8 (FF FE)', [text(bytes(0xff, 0xfe))], 1007],
    ['single-frame text ending inside a character', [text(bytes(0x61, 0xe2, 0x82))], 1007],
    [
      'fragmented text with invalid UTF-8 in the last fragment',
      [text('ok', { fin: false }), frame({ opcode: OP.CONT, payload: bytes(0xc0, 0x80) })],
      1007,
    ],
    ['RSV1 set', [text('x', { rsv1: true })], 1002],
    ['RSV2 set', [text('x', { rsv2: true })], 1002],
    ['RSV3 set', [text('x', { rsv3: true })], 1002],
    ['RSV1 on a ping', [frame({ opcode: OP.PING, rsv1: true })], 1002],
    ['opcode 3', [frame({ opcode: 0x3, payload: 'x' })], 1002],
    ['opcode 0xB (reserved control)', [frame({ opcode: 0xb })], 1002],
    ['continuation with no message started', [frame({ opcode: OP.CONT, payload: 'x' })], 1002],
    ['text frame inside a fragmented message', [text('a', { fin: false }), text('b')], 1002],
    ['binary frame inside a fragmented message', [text('a', { fin: false }), binary(bytes(1))], 1002],
    ['opcode 3 inside a fragmented message', [text('a', { fin: false }), frame({ opcode: 0x3, payload: 'x' })], 1002],
    ['fragmented ping (no FIN)', [frame({ opcode: OP.PING, fin: false, payload: 'p' })], 1002],
    ['126-byte ping', [frame({ opcode: OP.PING, payload: filled(126, 1) })], 1002],
    // RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0.
    ['64-bit length with the top bit set', [bytes(0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 0x37, 0xfa, 0x21, 0x3d)], 1002],
  ];

  test.each(cases)('%s', async (_name, frames, closeCode) => {
    const result = await runBoth(echo, violation(frames));
    expect(closeFramesOf(result.upstream)[0]?.code).toBe(closeCode);
    expectSame(result);
  });
});

describe('received close codes (must match)', () => {
  const valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
  const invalid = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 5000, 65535];
  const table: Array<[number, number]> = [
    ...valid.map((code): [number, number] => [code, 1000]),
    ...invalid.map((code): [number, number] => [code, 1002]),
  ];
  test.each(table)(
    'close %i is answered %i',
    async (code, reply) => {
      const result = await runBoth(echo, violation([closeFrame(code)]));
      expect(closeFramesOf(result.upstream)).toEqual([{ code: reply, reason: '' }]);
      expect(eventsOf(result.upstream, 'close')).toHaveLength(1);
      expect(eventsOf(result.upstream, 'close')[0]?.['code']).toBe(code);
      expectSame(result);
    },
  );
});

// -----------------------------------------------------------------------------------------------
// Deliberate differences (docs/compat.md)

describe('deliberate differences (docs/compat.md)', () => {
  test('compat "empty close is 1005": empty close frame reports 1005 (upstream 1006 "Connection dropped by remote peer.")', async () => {
    const result = await runBoth(echo, violation([closeFrame()]));
    // Both answer with a plain 1000.
    expect(closeFramesOf(result.upstream)).toEqual([{ code: 1000, reason: '' }]);
    expect(result.ours.frames).toEqual(result.upstream.frames);
    expect(eventsOf(result.upstream, 'close')).toEqual([{ ev: 'close', code: 1006, description: 'Connection dropped by remote peer.' }]);
    expect(eventsOf(result.upstream, 'serverClose')).toEqual([
      { ev: 'serverClose', code: 1006, description: 'Connection dropped by remote peer.' },
    ]);
    expect(eventsOf(result.ours, 'close')).toEqual([{ ev: 'close', code: 1005, description: 'Reason not provided' }]);
    expect(eventsOf(result.ours, 'serverClose')).toEqual([{ ev: 'serverClose', code: 1005, description: 'Reason not provided' }]);
  });

  test('compat "masking enforced": an unmasked client frame fails with 1002 (upstream accepts it)', async () => {
    const result = await runBoth(echo, violation([text('hi', { mask: false })]));
    expect(result.upstream.frames.map((f) => [f.opcode, f.text ?? f.closeCode])).toEqual([
      [OP.TEXT, 'hi'],
      [OP.CLOSE, 1000],
    ]);
    expect(eventsOf(result.upstream, 'message')).toEqual([{ ev: 'message', type: 'utf8', data: 'hi' }]);
    expect(eventsOf(result.upstream, 'close')).toEqual([{ ev: 'close', code: 1000, description: 'Normal connection closure' }]);

    expect(closeFramesOf(result.ours)).toEqual([{ code: 1002, reason: 'Received an unmasked frame from the client.' }]);
    expect(opcodes(result.ours)).toEqual([OP.CLOSE]);
    expect(eventsOf(result.ours, 'message')).toEqual([]);
    expect(eventsOf(result.ours, 'close')).toEqual([
      { ev: 'close', code: 1002, description: 'Received an unmasked frame from the client.' },
    ]);
  });

  test('compat "close codes on the wire": a received close 1015 is answered 1002 (upstream 1000)', async () => {
    const result = await runBoth(echo, violation([closeFrame(1015)]));
    expect(closeFramesOf(result.upstream)).toEqual([{ code: 1000, reason: '' }]);
    expect(closeFramesOf(result.ours)).toEqual([{ code: 1002, reason: '' }]);
    // The event reports the received code on both.
    const expected = [{ ev: 'close', code: 1015, description: 'TLS Handshake Failed' }];
    expect(eventsOf(result.upstream, 'close')).toEqual(expected);
    expect(eventsOf(result.ours, 'close')).toEqual(expected);
  });

  test('compat "1-byte close reasons": an invalid 1-byte reason fails with 1007 (upstream never checks it and replies 1000)', async () => {
    const result = await runBoth(echo, violation([frame({ opcode: OP.CLOSE, payload: bytes(0x03, 0xe8, 0xff) })]));
    expect(closeFramesOf(result.upstream)).toEqual([{ code: 1000, reason: '' }]);
    expect(eventsOf(result.upstream, 'close')).toEqual([{ ev: 'close', code: 1000, description: 'Normal connection closure' }]);
    expect(closeFramesOf(result.ours)).toEqual([{ code: 1007, reason: 'Invalid UTF-8 Data Received' }]);
    expect(eventsOf(result.ours, 'close')).toEqual([{ ev: 'close', code: 1007, description: 'Invalid UTF-8 Data Received' }]);
  });

  test('compat "close codes on the wire": close(1015) throws (upstream sends a 1015 close frame)', async () => {
    const result = await runBoth(closeOnCommand, serverCloses('close 1015 -'), { allowHalfOpen: true });
    expect(eventsOf(result.upstream, 'closeThrew')).toEqual([]);
    expect(closeFramesOf(result.upstream)).toEqual([{ code: 1015, reason: 'TLS Handshake Failed' }]);
    expect(eventsOf(result.upstream, 'close')).toEqual([{ ev: 'close', code: 1015, description: 'TLS Handshake Failed' }]);

    expect(eventsOf(result.ours, 'closeThrew')).toEqual([{ ev: 'closeThrew', message: 'Close code 1015 is not valid.' }]);
    // Nothing was sent; the client's close frame then closes the connection normally.
    expect(closeFramesOf(result.ours)).toEqual([{ code: 1000, reason: '' }]);
  });

  test('compat "closeTimeout destroys": a silent peer is cut off after closeTimeout (upstream waits for the peer forever)', async () => {
    const program: ServerProgram = { ...closeOnCommand, config: { closeTimeout: 300 } };
    const result = await runBoth(
      program,
      async ({ client, server, note }) => {
        client.send(handshake());
        await client.waitForHead();
        client.send(text('close - -'));
        await client.waitForCloseFrame();
        // The peer neither answers nor hangs up.
        await client.quiet(900);
        note({
          ev: 'after900ms',
          closeEvents: server.events.filter((e) => e.ev === 'close').length,
          socketDestroyed: server.accepted[0]?.socket.destroyed,
        });
        client.destroy();
      },
      { allowHalfOpen: true },
    );
    expect(result.upstream.notes).toEqual([{ ev: 'after900ms', closeEvents: 0, socketDestroyed: false }]);
    expect(result.ours.notes).toEqual([{ ev: 'after900ms', closeEvents: 1, socketDestroyed: true }]);
    // Same bytes, and in the end the same close event (our own code); only its timing differs.
    expect(closeFramesOf(result.upstream)).toEqual([{ code: 1000, reason: 'Normal connection closure' }]);
    expect(comparable(result.ours)).toEqual(comparable(result.upstream));
    expect(eventsOf(result.ours, 'close')).toEqual([{ ev: 'close', code: 1000, description: 'Normal connection closure' }]);
  });

  test('compat "fragment overhead": 500+500+480 bytes exceed 1500 with 16 bytes per fragment (upstream accepts 1480)', async () => {
    const frames = [
      binary(filled(500, 1), { fin: false }),
      frame({ opcode: OP.CONT, payload: filled(500, 2), fin: false }),
      frame({ opcode: OP.CONT, payload: filled(480, 3) }),
    ];
    const result = await runBoth(echo, violation(frames));
    expect(result.upstream.frames.map((f) => [f.opcode, f.length])).toEqual([
      [OP.BINARY, 1480],
      [OP.CLOSE, 2],
    ]);
    expect(eventsOf(result.upstream, 'message')).toHaveLength(1);
    expect(closeFramesOf(result.ours)).toEqual([{ code: 1009, reason: 'Maximum message size exceeded.' }]);
    expect(opcodes(result.ours)).toEqual([OP.CLOSE]);
    expect(eventsOf(result.ours, 'message')).toEqual([]);
    expect(eventsOf(result.ours, 'close')).toEqual([{ ev: 'close', code: 1009, description: 'Maximum message size exceeded.' }]);
  });

  test('compat "fragment overhead": a fragmented message of exactly maxReceivedMessageSize (750+750) is refused (upstream accepts)', async () => {
    const frames = [binary(filled(750, 1), { fin: false }), frame({ opcode: OP.CONT, payload: filled(750, 2) })];
    const result = await runBoth(echo, violation(frames));
    expect(result.upstream.frames.map((f) => [f.opcode, f.length])).toEqual([
      [OP.BINARY, 1500],
      [OP.CLOSE, 2],
    ]);
    expect(closeFramesOf(result.ours)).toEqual([{ code: 1009, reason: 'Maximum message size exceeded.' }]);
  });

  test('compat "fragment overhead": a fragmented message under the limit with overhead (700+700+32 <= 1500) matches', async () => {
    const frames = [binary(filled(700, 1), { fin: false }), frame({ opcode: OP.CONT, payload: filled(700, 2) })];
    const result = await runBoth(echo, violation(frames));
    expect(result.upstream.frames.map((f) => [f.opcode, f.length])).toEqual([
      [OP.BINARY, 1400],
      [OP.CLOSE, 2],
    ]);
    expectSame(result);
  });

  test('compat "utf8 fail fast": invalid UTF-8 in the first fragment closes with 1007 at once (upstream waits for the last fragment)', async () => {
    const result = await runBoth(echo, async ({ client, note }) => {
      client.send(handshake());
      await client.waitForHead();
      client.send(text(bytes(0x61, 0xff), { fin: false }));
      await client.waitForCloseFrame(500);
      note({ ev: 'beforeLastFragment', closeFrames: client.response.frames.filter((f) => f.opcode === OP.CLOSE).length });
      client.send(frame({ opcode: OP.CONT, payload: 'b' }));
      await client.waitForCloseFrame();
      client.send(closeFrame(1000));
      await client.waitForEnd();
    });
    expect(result.upstream.notes).toEqual([{ ev: 'beforeLastFragment', closeFrames: 0 }]);
    expect(result.ours.notes).toEqual([{ ev: 'beforeLastFragment', closeFrames: 1 }]);
    // Apart from the moment, the same close frame and event.
    expect(closeFramesOf(result.upstream)).toEqual([{ code: 1007, reason: 'Invalid UTF-8 Data Received' }]);
    expect(comparable(result.ours)).toEqual(comparable(result.upstream));
  });

  test('compat "drop half-closes": on a violation the close frame is sent, the socket half-closed and destroyed after closeTimeout (upstream destroys at once)', async () => {
    const program: ServerProgram = {
      config: { closeTimeout: 300 },
      onConnection: (connection: WsConnection, record) => {
        connection.on('close', () => {
          setImmediate(() => record({ ev: 'socketDestroyedJustAfterClose', value: connection.socket.destroyed }));
        });
      },
    };
    const result = await runBoth(
      program,
      async ({ client, server, note }) => {
        client.send(handshake());
        await client.waitForHead();
        client.send(text('x', { rsv1: true }));
        await client.waitForCloseFrame();
        await client.quiet(600);
        note({ ev: 'after600ms', socketDestroyed: server.accepted[0]?.socket.destroyed });
        client.destroy();
      },
      { allowHalfOpen: true },
    );
    const closeFrameBytes = (f: ParsedFrame): string => f.bytes;
    expect(result.ours.frames.map(closeFrameBytes)).toEqual(result.upstream.frames.map(closeFrameBytes));
    expect(closeFramesOf(result.upstream)).toEqual([{ code: 1002, reason: 'Unsupported usage of rsv bits without negotiated extension.' }]);
    expect(eventsOf(result.ours, 'close')).toEqual(eventsOf(result.upstream, 'close'));
    expect(eventsOf(result.upstream, 'socketDestroyedJustAfterClose')).toEqual([{ ev: 'socketDestroyedJustAfterClose', value: true }]);
    expect(eventsOf(result.ours, 'socketDestroyedJustAfterClose')).toEqual([{ ev: 'socketDestroyedJustAfterClose', value: false }]);
    expect(result.ours.notes).toEqual([{ ev: 'after600ms', socketDestroyed: true }]);
  });

  test('compat "ping 125": pong() with a string payload is sent (upstream throws a TypeError)', async () => {
    const program: ServerProgram = {
      onMessage: (connection, _message, record) => {
        try {
          (connection.pong as unknown as (data: string) => void)('str');
        } catch (error) {
          record({ ev: 'pongThrew', name: (error as Error).name });
        }
        return true;
      },
    };
    const result = await runBoth(program, async ({ client }) => {
      client.send(handshake());
      await client.waitForHead();
      client.send(text('go'));
      await client.quiet(200);
      client.send(closeFrame(1000));
      await client.waitForEnd();
    });
    expect(eventsOf(result.upstream, 'pongThrew')).toEqual([{ ev: 'pongThrew', name: 'TypeError' }]);
    expect(opcodes(result.upstream)).toEqual([OP.CLOSE]);
    expect(eventsOf(result.ours, 'pongThrew')).toEqual([]);
    expect(result.ours.frames.map((f) => [f.opcode, f.payload])).toEqual([
      [OP.PONG, Buffer.from('str').toString('hex')],
      [OP.CLOSE, '03e8'],
    ]);
  });

  test('compat "fragmentationThreshold: 0": one unfragmented frame (upstream never returns from sendUTF)', async () => {
    const program: ServerProgram = {
      config: { fragmentationThreshold: 0 },
      onMessage: (connection) => {
        connection.sendUTF('hello');
        return true;
      },
    };
    const outcome = await runScenario('ours', program, afterHandshake([text('go')], { expectFrames: 1, thenClose: true }));
    expect(outcome.frames.map((f) => [f.opcode, f.fin, f.text ?? f.closeCode])).toEqual([
      [OP.TEXT, true, 'hello'],
      [OP.CLOSE, true, 1000],
    ]);

    // Upstream loops forever allocating frames: run it in a child with a small heap and a deadline.
    const script = `
      const http = require('http');
      const net = require('net');
      const WebSocketServer = require('websocket-upstream').server;
      const server = http.createServer();
      const ws = new WebSocketServer({ httpServer: server, keepalive: false, fragmentationThreshold: 0 });
      ws.on('request', (request) => {
        request.accept(null, null).sendUTF('hello');
        console.log('RETURNED');
        process.exit(0);
      });
      server.listen(0, '127.0.0.1', () => {
        const client = net.connect(server.address().port, '127.0.0.1', () => client.write(${JSON.stringify(handshake().toString('latin1'))}));
        client.on('error', () => {});
      });
    `;
    const child = spawnSync(process.execPath, ['--max-old-space-size=32', '-e', script], {
      cwd: path.resolve(__dirname, '..', '..'),
      encoding: 'utf8',
      timeout: 2000,
    });
    expect(child.stdout).not.toContain('RETURNED');
    // Killed at the deadline, or out of memory before it.
    expect(child.signal !== null || child.status !== 0).toBe(true);
  });

  test('compat "ping 125": ping()/pong() payloads are cut at 125 bytes (upstream 124)', async () => {
    const program: ServerProgram = {
      onMessage: (connection) => {
        connection.ping(filled(200, 0x61));
        connection.pong(filled(200, 0x62));
        connection.ping('c'.repeat(200));
        return true;
      },
    };
    const result = await runBoth(program, afterHandshake([text('go')], { expectFrames: 3, thenClose: true }));
    const shape = (outcome: Outcome): Array<[number, number, string]> =>
      outcome.frames.map((f) => [f.opcode, f.length, f.opcode === OP.CLOSE ? '' : Buffer.from(f.payload, 'hex').toString('latin1')]);
    expect(shape(result.upstream)).toEqual([
      [OP.PING, 124, 'a'.repeat(124)],
      [OP.PONG, 124, 'b'.repeat(124)],
      [OP.PING, 124, 'c'.repeat(124)],
      [OP.CLOSE, 2, ''],
    ]);
    expect(shape(result.ours)).toEqual([
      [OP.PING, 125, 'a'.repeat(125)],
      [OP.PONG, 125, 'b'.repeat(125)],
      [OP.PING, 125, 'c'.repeat(125)],
      [OP.CLOSE, 2, ''],
    ]);
    expect(result.ours.events).toEqual(result.upstream.events);
  });

  test('compat "Frame length above 2^53-1": a 64-bit length of 2^32 (high word 1) fails with 1009 (upstream 1002 "Unsupported 64-bit length frame received")', async () => {
    const result = await runBoth(echo, violation([bytes(0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0x37, 0xfa, 0x21, 0x3d)]));
    expect(closeFramesOf(result.upstream)).toEqual([{ code: 1002, reason: 'Unsupported 64-bit length frame received' }]);
    expect(eventsOf(result.upstream, 'close')).toEqual([{ ev: 'close', code: 1002, description: 'Unsupported 64-bit length frame received' }]);
    const reason = 'Frame size of 4294967296 bytes exceeds maximum accepted frame size';
    expect(closeFramesOf(result.ours)).toEqual([{ code: 1009, reason }]);
    expect(eventsOf(result.ours, 'close')).toEqual([{ ev: 'close', code: 1009, description: reason }]);
  });

  test('compat "Close reasons over 123 bytes": close() cuts a long description to 123 bytes (upstream sends an illegal control frame)', async () => {
    const long = 'd'.repeat(200);
    const result = await runBoth(closeOnCommand, serverCloses(`close 4000 ${long}`), { allowHalfOpen: true });
    expect(result.upstream.frames.map((f) => [f.opcode, f.length])).toEqual([[OP.CLOSE, 202]]);
    expect(closeFramesOf(result.upstream)).toEqual([{ code: 4000, reason: long }]);
    expect(closeFramesOf(result.ours)).toEqual([{ code: 4000, reason: 'd'.repeat(123) }]);
    // The event keeps the full description on both.
    expect(eventsOf(result.ours, 'close')).toEqual(eventsOf(result.upstream, 'close'));
    expect(eventsOf(result.upstream, 'close')).toEqual([{ ev: 'close', code: 4000, description: long }]);
  });

  test('compat "Sending after close()": sendUTF() after close() is ignored (upstream turns the close into 1006 + error)', async () => {
    const program: ServerProgram = {
      onMessage: (connection) => {
        connection.close(4001, 'going');
        connection.sendUTF('late');
        return true;
      },
    };
    const result = await runBoth(program, serverCloses('x'), { allowHalfOpen: true });
    expect(closeFramesOf(result.upstream)).toEqual([{ code: 4001, reason: 'going' }]);
    expect(opcodes(result.ours)).toEqual(opcodes(result.upstream));
    expect(eventsOf(result.upstream, 'connectionError')).toEqual([{ ev: 'connectionError', message: 'write after end' }]);
    expect(eventsOf(result.upstream, 'close')).toEqual([
      { ev: 'close', code: 1006, description: 'Socket Error: undefined ERR_STREAM_WRITE_AFTER_END' },
    ]);
    expect(eventsOf(result.ours, 'connectionError')).toEqual([]);
    expect(eventsOf(result.ours, 'close')).toEqual([{ ev: 'close', code: 4001, description: 'going' }]);
  });
});
