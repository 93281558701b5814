/**
 * RFC 6455 §5.4 (fragmentation) and §5.5 (control frames, ping §5.5.2, pong §5.5.3), from both ends.
 */
import { randomBytes } from 'node:crypto';
import { OP, bothSides, bothSidesSend, cleanup, expectFailure, openPair, utf8 } from './helpers';

afterEach(cleanup);

describe('§5.4 fragmentation', () => {
  bothSides('a text message in three fragments as one message', async (side) => {
    const { peer, log } = await openPair(side);
    peer.send(
      { opcode: OP.TEXT, payload: 'Hello', fin: false },
      { opcode: OP.CONT, payload: ', ', fin: false },
      { opcode: OP.CONT, payload: 'world!' },
    );
    // Our echo goes out as a single frame.
    await peer.expectFrame(OP.TEXT, 'Hello, world!');
    expect(log.messages).toEqual([{ kind: 'utf8', data: 'Hello, world!' }]);
  });

  bothSides('a binary message in three fragments as one message', async (side) => {
    const { peer, log } = await openPair(side);
    const [a, b, c] = [randomBytes(10), randomBytes(200), randomBytes(3)];
    peer.send({ opcode: OP.BINARY, payload: a, fin: false }, { opcode: OP.CONT, payload: b, fin: false }, { opcode: OP.CONT, payload: c });
    const whole = Buffer.concat([a, b, c]);
    await peer.expectFrame(OP.BINARY, whole);
    expect(log.messages).toEqual([{ kind: 'binary', data: whole }]);
  });

  bothSides('fragments with empty payloads (first, middle and last)', async (side) => {
    const { peer, log } = await openPair(side);
    peer.send(
      { opcode: OP.TEXT, payload: '', fin: false },
      { opcode: OP.CONT, payload: 'abc', fin: false },
      { opcode: OP.CONT, payload: '', fin: false },
      { opcode: OP.CONT, payload: 'def', fin: false },
      { opcode: OP.CONT, payload: '' },
    );
    await peer.expectFrame(OP.TEXT, 'abcdef');
    peer.send({ opcode: OP.BINARY, payload: '', fin: false }, { opcode: OP.CONT, payload: '' });
    await peer.expectFrame(OP.BINARY, '');
    expect(log.messages).toEqual([
      { kind: 'utf8', data: 'abcdef' },
      { kind: 'binary', data: Buffer.alloc(0) },
    ]);
  });

  bothSides('a message in 100 one-byte fragments', async (side) => {
    const { peer, log } = await openPair(side);
    const text = 'x'.repeat(50) + 'y'.repeat(50);
    const specs = Array.from(text, (ch, i) => ({ opcode: i === 0 ? OP.TEXT : OP.CONT, payload: ch, fin: i === 99 }));
    peer.send(...specs);
    await peer.expectFrame(OP.TEXT, text);
    expect(log.texts).toEqual([text]);
  });

  bothSides('consecutive fragmented messages of both types, then a single-frame one', async (side) => {
    const { peer, log } = await openPair(side);
    peer.send(
      { opcode: OP.BINARY, payload: [1], fin: false },
      { opcode: OP.CONT, payload: [2] },
      { opcode: OP.TEXT, payload: 'a', fin: false },
      { opcode: OP.CONT, payload: 'b' },
      { opcode: OP.TEXT, payload: 'c' },
    );
    await peer.expectFrame(OP.BINARY, [1, 2]);
    await peer.expectFrame(OP.TEXT, 'ab');
    await peer.expectFrame(OP.TEXT, 'c');
    expect(log.messages).toEqual([
      { kind: 'binary', data: Buffer.from([1, 2]) },
      { kind: 'utf8', data: 'ab' },
      { kind: 'utf8', data: 'c' },
    ]);
  });

  bothSides('a two-fragment message split in two writes at every byte offset', async (side) => {
    const { peer, log } = await openPair(side);
    const build = (): Buffer =>
      Buffer.concat([peer.frame({ opcode: OP.TEXT, payload: 'frag', fin: false }), peer.frame({ opcode: OP.CONT, payload: 'ment' })]);
    const length = build().length;
    for (let offset = 1; offset < length; offset++) {
      await peer.writeSplit(build(), [offset]);
      await peer.expectFrame(OP.TEXT, 'fragment');
    }
    expect(log.texts).toEqual(Array(length - 1).fill('fragment'));
  });

  bothSides('a continuation frame with no message started (1002)', async (side) => {
    const pair = await openPair(side);
    pair.peer.send({ opcode: OP.CONT, payload: 'orphan' }, { opcode: OP.TEXT, payload: 'not processed' });
    await expectFailure(pair, 1002, 'Unexpected Continuation Frame');
  });

  bothSides('a continuation frame after a complete message (1002)', async (side) => {
    const pair = await openPair(side);
    pair.peer.send({ opcode: OP.TEXT, payload: 'done' });
    await pair.peer.expectFrame(OP.TEXT, 'done');
    pair.peer.send({ opcode: OP.CONT, payload: 'more' });
    await pair.peer.expectClose(1002, 'Unexpected Continuation Frame');
    await pair.peer.expectEnd();
    expect(await pair.log.closed()).toEqual({ code: 1002, description: 'Unexpected Continuation Frame' });
    expect(pair.log.texts).toEqual(['done']);
  });

  bothSides('a text frame in the middle of a fragmented message (1002)', async (side) => {
    const pair = await openPair(side);
    pair.peer.send({ opcode: OP.TEXT, payload: 'first', fin: false }, { opcode: OP.TEXT, payload: 'second' });
    await expectFailure(pair, 1002, 'Illegal frame opcode 0x1 received in middle of fragmented message.');
  });

  bothSides('a binary frame in the middle of a fragmented message (1002)', async (side) => {
    const pair = await openPair(side);
    pair.peer.send({ opcode: OP.BINARY, payload: [1], fin: false }, { opcode: OP.BINARY, payload: [2], fin: false });
    await expectFailure(pair, 1002, 'Illegal frame opcode 0x2 received in middle of fragmented message.');
  });

  bothSides('pings between fragments and answers each at once, before the message completes', async (side) => {
    const { peer, log } = await openPair(side);
    peer.send({ opcode: OP.TEXT, payload: 'one ', fin: false }, { opcode: OP.PING, payload: 'p1' });
    // RFC 6455 §5.4: control frames MAY be injected in the middle of a fragmented message.
    await peer.expectFrame(OP.PONG, 'p1');
    peer.send({ opcode: OP.CONT, payload: 'two ', fin: false }, { opcode: OP.PING, payload: '' }, { opcode: OP.PONG, payload: 'unsolicited' });
    await peer.expectFrame(OP.PONG, '');
    peer.send({ opcode: OP.CONT, payload: 'three' });
    await peer.expectFrame(OP.TEXT, 'one two three');
    expect(log.texts).toEqual(['one two three']);
    expect(log.pongs).toEqual([utf8('unsolicited').toString('hex')]);
  });

  bothSidesSend('a message longer than fragmentationThreshold as fragments', async (side) => {
    const { peer, conn } = await openPair(side, { echo: false, config: { fragmentationThreshold: 10 } });
    conn.sendUTF('abcdefghij0123456789XYZ');
    await peer.expectFrame(OP.TEXT, 'abcdefghij', { fin: false });
    await peer.expectFrame(OP.CONT, '0123456789', { fin: false });
    await peer.expectFrame(OP.CONT, 'XYZ');
    const data = randomBytes(20);
    conn.sendBytes(data);
    await peer.expectFrame(OP.BINARY, data.subarray(0, 10), { fin: false });
    await peer.expectFrame(OP.CONT, data.subarray(10));
    // Exactly at the threshold: one frame.
    conn.sendUTF('0123456789');
    await peer.expectFrame(OP.TEXT, '0123456789');
  });

  bothSidesSend('a long message as one frame when fragmentOutgoingMessages is false', async (side) => {
    const { peer, conn } = await openPair(side, { echo: false, config: { fragmentOutgoingMessages: false, fragmentationThreshold: 10 } });
    conn.sendUTF('abcdefghij0123456789XYZ');
    await peer.expectFrame(OP.TEXT, 'abcdefghij0123456789XYZ');
  });
});

describe('§5.5 control frames', () => {
  for (const [name, opcode] of [
    ['ping', OP.PING],
    ['pong', OP.PONG],
    ['close', OP.CLOSE],
  ] as const) {
    bothSides(`a ${name} announcing a 126-byte payload (1002, before the payload arrives)`, async (side) => {
      const pair = await openPair(side);
      // Only the header: the limit is a property of the header, so the failure must not wait for data.
      const header = pair.peer.frame({ opcode, length: 126 });
      pair.peer.write(header);
      await expectFailure(pair, 1002, 'Illegal control frame longer than 125 bytes.');
    });

    bothSides(`a fragmented ${name} (FIN clear) (1002)`, async (side) => {
      const pair = await openPair(side);
      pair.peer.send({ opcode, payload: opcode === OP.CLOSE ? [0x03, 0xe8] : 'x', fin: false });
      await expectFailure(pair, 1002, 'Control frames must not be fragmented.');
    });
  }

  bothSides('a fragmented ping in the middle of a fragmented message (1002)', async (side) => {
    const pair = await openPair(side);
    pair.peer.send({ opcode: OP.TEXT, payload: 'a', fin: false }, { opcode: OP.PING, payload: 'x', fin: false }, { opcode: OP.CONT, payload: 'b' });
    await expectFailure(pair, 1002, 'Control frames must not be fragmented.');
  });
});

describe('§5.5.2 ping', () => {
  bothSides('pings with empty, short, 125-byte and binary payloads and pongs each payload back', async (side) => {
    const { peer, log } = await openPair(side);
    const payloads = [Buffer.alloc(0), utf8('hello'), randomBytes(125), Buffer.from([0xff, 0xfe, 0x00, 0xc0, 0x80])];
    for (const payload of payloads) {
      peer.send({ opcode: OP.PING, payload });
      await peer.expectFrame(OP.PONG, payload);
    }
    expect(log.messages).toEqual([]);
  });

  bothSides('several pings in one write and answers them in order', async (side) => {
    const { peer } = await openPair(side);
    peer.send({ opcode: OP.PING, payload: '1' }, { opcode: OP.PING, payload: '2' }, { opcode: OP.PING, payload: '3' });
    await peer.expectFrame(OP.PONG, '1');
    await peer.expectFrame(OP.PONG, '2');
    await peer.expectFrame(OP.PONG, '3');
  });

  bothSides('a ping split in two writes at every byte offset', async (side) => {
    const { peer } = await openPair(side);
    const length = peer.frame({ opcode: OP.PING, payload: 'split ping' }).length;
    for (let offset = 1; offset < length; offset++) {
      await peer.writeSplit(peer.frame({ opcode: OP.PING, payload: 'split ping' }), [offset]);
      await peer.expectFrame(OP.PONG, 'split ping');
    }
  });

  bothSides("a ping, emits 'ping' with its payload and still pongs when the listener does not cancel", async (side) => {
    const { peer, log } = await openPair(side, { pingListener: 'observe' });
    peer.send({ opcode: OP.PING, payload: 'seen' });
    await peer.expectFrame(OP.PONG, 'seen');
    expect(log.pings).toEqual([utf8('seen').toString('hex')]);
  });

  bothSides("a ping whose 'ping' listener cancels, and sends no pong", async (side) => {
    const { peer, log } = await openPair(side, { pingListener: 'cancel' });
    peer.send({ opcode: OP.PING, payload: 'cancelled' }, { opcode: OP.TEXT, payload: 'after' });
    // The echo is the next thing on the wire: no pong went before it.
    await peer.expectFrame(OP.TEXT, 'after');
    expect(log.pings).toEqual([utf8('cancelled').toString('hex')]);
  });

  bothSidesSend("ping() as a ping frame and emits 'pong' for the answer", async (side) => {
    const { peer, conn, log } = await openPair(side);
    conn.ping('are you there');
    await peer.expectFrame(OP.PING, 'are you there');
    peer.send({ opcode: OP.PONG, payload: 'are you there' });
    await log.waitFor(() => (log.pongs.length > 0 ? true : undefined), "'pong'");
    expect(log.pongs).toEqual([utf8('are you there').toString('hex')]);
    // RFC 6455 §5.5: a control payload is at most 125 bytes; ping() cuts longer data.
    const long = randomBytes(200);
    conn.ping(long);
    await peer.expectFrame(OP.PING, long.subarray(0, 125));
    conn.ping();
    await peer.expectFrame(OP.PING, '');
  });
});

describe('§5.5.3 pong', () => {
  bothSides("an unsolicited pong, emits 'pong' and answers nothing", async (side) => {
    const { peer, log } = await openPair(side);
    const payload = randomBytes(125);
    peer.send({ opcode: OP.PONG, payload }, { opcode: OP.PONG, payload: '' }, { opcode: OP.TEXT, payload: 'next' });
    // RFC 6455 §5.5.3: "A response to an unsolicited Pong frame is not expected."
    await peer.expectFrame(OP.TEXT, 'next');
    expect(log.pongs).toEqual([payload.toString('hex'), '']);
  });

  bothSidesSend('pong() as a pong frame', async (side) => {
    const { peer, conn } = await openPair(side);
    conn.pong(Buffer.from([0, 1, 2, 0xff]));
    await peer.expectFrame(OP.PONG, [0, 1, 2, 0xff]);
  });
});
