/**
 * Size limits (1009) and the closing handshake (RFC 6455 §5.5.1, §7: codes, reasons, malformed
 * bodies), from both ends.
 */
import { OP, bothSides, bothSidesSend, closeBody, cleanup, expectFailure, hex, openPair, utf8 } from './helpers';

afterEach(cleanup);

const TOO_BIG = 'Maximum message size exceeded.';
const frameTooBig = (n: number): string => `Frame size of ${n} bytes exceeds maximum accepted frame size`;

describe('limits: frame and message size (1009)', () => {
  bothSides('a frame of exactly maxReceivedFrameSize', async (side) => {
    const { peer, log } = await openPair(side, { config: { maxReceivedFrameSize: 100 } });
    peer.send({ opcode: OP.BINARY, payload: Buffer.alloc(100, 7) });
    await peer.expectFrame(OP.BINARY, Buffer.alloc(100, 7));
    expect(log.messages).toHaveLength(1);
  });

  bothSides('a frame header announcing maxReceivedFrameSize + 1 and fails before the payload (1009)', async (side) => {
    const pair = await openPair(side, { config: { maxReceivedFrameSize: 100 } });
    pair.peer.write(pair.peer.frame({ opcode: OP.TEXT, length: 101 }));
    await expectFailure(pair, 1009, frameTooBig(101));
  });

  bothSides('a frame one byte over the default maxReceivedFrameSize (server 64 KiB, client 1 MiB) (1009)', async (side) => {
    const pair = await openPair(side);
    const limit = side === 'server' ? 0x10000 : 0x100000;
    pair.peer.write(pair.peer.frame({ opcode: OP.BINARY, length: limit + 1 }));
    await expectFailure(pair, 1009, frameTooBig(limit + 1));
  });

  bothSides('an oversized continuation frame in a fragmented message (1009)', async (side) => {
    const pair = await openPair(side, { config: { maxReceivedFrameSize: 100 } });
    pair.peer.send({ opcode: OP.TEXT, payload: 'a', fin: false });
    pair.peer.write(pair.peer.frame({ opcode: OP.CONT, length: 500 }));
    await expectFailure(pair, 1009, frameTooBig(500));
  });

  // Documented: each fragment is charged 16 bytes on top of its payload against maxReceivedMessageSize.
  const messageLimit = { maxReceivedMessageSize: 200, maxReceivedFrameSize: 1000 };

  bothSides('a fragmented message exactly at maxReceivedMessageSize (payload + 16 per fragment)', async (side) => {
    const { peer, log } = await openPair(side, { config: messageLimit });
    peer.send({ opcode: OP.BINARY, payload: Buffer.alloc(84, 1), fin: false }, { opcode: OP.CONT, payload: Buffer.alloc(84, 2) });
    const whole = Buffer.concat([Buffer.alloc(84, 1), Buffer.alloc(84, 2)]);
    await peer.expectFrame(OP.BINARY, whole);
    expect(log.messages).toEqual([{ kind: 'binary', data: whole }]);
  });

  bothSides('a fragmented message one byte over maxReceivedMessageSize and fails on the header of the fragment (1009)', async (side) => {
    const pair = await openPair(side, { config: messageLimit });
    pair.peer.send({ opcode: OP.TEXT, payload: 'x'.repeat(85), fin: false });
    // Only the header of the fragment that crosses the limit.
    pair.peer.write(pair.peer.frame({ opcode: OP.CONT, length: 84 }));
    await expectFailure(pair, 1009, TOO_BIG);
  });

  bothSides('a single-frame message over maxReceivedMessageSize but within maxReceivedFrameSize (accepted, as WebSocket-Node does)', async (side) => {
    const { peer, log } = await openPair(side, { config: messageLimit });
    peer.send({ opcode: OP.TEXT, payload: 'y'.repeat(500) });
    await peer.expectFrame(OP.TEXT, 'y'.repeat(500));
    expect(log.texts).toEqual(['y'.repeat(500)]);
  });

  bothSides('a message of 12 empty fragments (within the limit) and then a flood of 13 (1009)', async (side) => {
    const pair = await openPair(side, { config: messageLimit });
    const fragments = (n: number): Array<{ opcode: number; payload: string; fin: boolean }> =>
      Array.from({ length: n }, (_, i) => ({ opcode: i === 0 ? OP.TEXT : OP.CONT, payload: '', fin: i === n - 1 }));
    pair.peer.send(...fragments(12));
    await pair.peer.expectFrame(OP.TEXT, '');
    pair.peer.send(...fragments(13));
    await pair.peer.expectClose(1009, TOO_BIG);
    await pair.peer.expectEnd();
    expect(await pair.log.closed()).toEqual({ code: 1009, description: TOO_BIG });
    expect(pair.log.texts).toEqual(['']);
  });
});

describe('§5.5.1 / §7 closing handshake', () => {
  bothSides('a close with 1000 and a reason, answers 1000 without a reason and hangs up', async (side) => {
    const { peer, log } = await openPair(side);
    peer.send({ opcode: OP.CLOSE, payload: closeBody(1000, 'bye') });
    await peer.expectClose(1000);
    await peer.expectEnd();
    peer.end();
    expect(await log.closed()).toEqual({ code: 1000, description: 'bye' });
    expect(log.messages).toEqual([]);
  });

  // RFC 6455 §7.4.1 and the IANA registry: codes that may be sent. 1012-1014 are registered.
  for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]) {
    bothSides(`a close with valid code ${code} and answers 1000`, async (side) => {
      const { peer, log } = await openPair(side);
      peer.send({ opcode: OP.CLOSE, payload: closeBody(code, `reason ${code}`) });
      await peer.expectClose(1000);
      await peer.expectEnd();
      peer.end();
      expect(await log.closed()).toEqual({ code, description: `reason ${code}` });
    });
  }

  // 1004-1006 and 1015 "MUST NOT be set as a status code in a Close control frame"; 0-999 are unused;
  // 1016-2999 are unassigned; 5000+ is out of range.
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
    bothSides(`a close with invalid code ${code} and answers 1002`, async (side) => {
      const { peer, log } = await openPair(side);
      peer.send({ opcode: OP.CLOSE, payload: closeBody(code, 'bad code') });
      await peer.expectClose(1002);
      await peer.expectEnd();
      peer.end();
      expect(await log.closed()).toEqual({ code, description: 'bad code' });
    });
  }

  bothSides('a close with a code and no reason, and reports the code\'s standard description', async (side) => {
    const { peer, log } = await openPair(side);
    peer.send({ opcode: OP.CLOSE, payload: closeBody(1001) });
    await peer.expectClose(1000);
    await peer.expectEnd();
    peer.end();
    expect(await log.closed()).toEqual({ code: 1001, description: 'Remote peer is going away' });
  });

  bothSides('a close with an empty body, answers 1000 and reports 1005', async (side) => {
    const { peer, log } = await openPair(side);
    peer.send({ opcode: OP.CLOSE, payload: '' });
    await peer.expectClose(1000);
    await peer.expectEnd();
    peer.end();
    expect(await log.closed()).toEqual({ code: 1005, description: 'Reason not provided' });
  });

  bothSides('a close with a 1-byte body, answers 1002 and reports 1005', async (side) => {
    const { peer, log } = await openPair(side);
    // RFC 6455 §5.5.1: a body, if present, starts with a 2-byte code; one byte is malformed.
    peer.send({ opcode: OP.CLOSE, payload: [0x03] });
    await peer.expectClose(1002);
    await peer.expectEnd();
    peer.end();
    expect(await log.closed()).toEqual({ code: 1005, description: 'Reason not provided' });
  });

  bothSides('a close with a 1-byte reason, and reports the code\'s standard description (as WebSocket-Node does)', async (side) => {
    const { peer, log } = await openPair(side);
    peer.send({ opcode: OP.CLOSE, payload: closeBody(1000, 'x') });
    await peer.expectClose(1000);
    await peer.expectEnd();
    peer.end();
    expect(await log.closed()).toEqual({ code: 1000, description: 'Normal connection closure' });
  });

  bothSides('a close with a 123-byte multi-byte UTF-8 reason (the longest that fits)', async (side) => {
    const { peer, log } = await openPair(side);
    const reason = 'κ'.repeat(61) + '!';
    expect(utf8(reason).length).toBe(123);
    peer.send({ opcode: OP.CLOSE, payload: closeBody(4001, reason) });
    await peer.expectClose(1000);
    await peer.expectEnd();
    peer.end();
    expect(await log.closed()).toEqual({ code: 4001, description: reason });
  });

  bothSides('a close whose reason is invalid UTF-8 (1007)', async (side) => {
    const pair = await openPair(side);
    pair.peer.send({ opcode: OP.CLOSE, payload: closeBody(1000, hex('6f6beda080')) });
    await expectFailure(pair, 1007, 'Invalid UTF-8 Data Received');
  });

  bothSides('a close whose reason ends inside a character (1007)', async (side) => {
    const pair = await openPair(side);
    pair.peer.send({ opcode: OP.CLOSE, payload: closeBody(1000, hex('6f6bce')) });
    await expectFailure(pair, 1007, 'Invalid UTF-8 Data Received');
  });

  bothSides('a close with an invalid code and an invalid UTF-8 reason (1007: the reason is checked first)', async (side) => {
    const pair = await openPair(side);
    pair.peer.send({ opcode: OP.CLOSE, payload: closeBody(999, hex('ff')) });
    await expectFailure(pair, 1007, 'Invalid UTF-8 Data Received');
  });

  bothSides('a close in the middle of a fragmented message, answers 1000 and drops the partial message', async (side) => {
    const { peer, log } = await openPair(side);
    peer.send({ opcode: OP.TEXT, payload: 'partial', fin: false }, { opcode: OP.CLOSE, payload: closeBody(1001, 'leaving') }, { opcode: OP.CONT, payload: ' rest' });
    await peer.expectClose(1000);
    await peer.expectEnd();
    peer.end();
    expect(await log.closed()).toEqual({ code: 1001, description: 'leaving' });
    expect(log.messages).toEqual([]);
  });

  bothSides('a close split in two writes at every byte offset', async (side) => {
    for (let offset = 1; ; offset++) {
      const { peer, log } = await openPair(side);
      const frame = peer.frame({ opcode: OP.CLOSE, payload: closeBody(3001, 'split') });
      if (offset >= frame.length) break;
      await peer.writeSplit(frame, [offset]);
      await peer.expectClose(1000);
      await peer.expectEnd();
      peer.end();
      expect(await log.closed()).toEqual({ code: 3001, description: 'split' });
    }
  });

  bothSides('a message and a ping followed by a close in one write, and answers them in order before its close', async (side) => {
    const { peer, log } = await openPair(side);
    peer.send(
      { opcode: OP.TEXT, payload: 'last words' },
      { opcode: OP.PING, payload: 'still there?' },
      { opcode: OP.CLOSE, payload: closeBody(1000, 'bye') },
    );
    await peer.expectFrame(OP.TEXT, 'last words');
    await peer.expectFrame(OP.PONG, 'still there?');
    await peer.expectClose(1000);
    await peer.expectEnd();
    peer.end();
    expect(await log.closed()).toEqual({ code: 1000, description: 'bye' });
    expect(log.texts).toEqual(['last words']);
  });

  bothSides('frames after a close frame, and ignores them', async (side) => {
    const { peer, log } = await openPair(side, { pingListener: 'observe' });
    peer.send(
      { opcode: OP.CLOSE, payload: closeBody(1000, 'done') },
      { opcode: OP.TEXT, payload: 'after close' },
      { opcode: OP.PING, payload: 'after close' },
      { opcode: 0x3, payload: 'would be a violation' },
    );
    // RFC 6455 §1.4: after a Close frame the endpoint "discards any further data received".
    await peer.expectClose(1000);
    await peer.expectEnd();
    peer.end();
    expect(await log.closed()).toEqual({ code: 1000, description: 'done' });
    expect(log.events.map((e) => e.type)).toEqual(['close']);
  });

  bothSides("a close frame immediately followed by the peer's TCP FIN, and reports the peer's code", async (side) => {
    const { peer, log } = await openPair(side);
    peer.send({ opcode: OP.CLOSE, payload: closeBody(4002, 'fin right after') });
    peer.end();
    // RFC 6455 §7.1.5: a received Close frame sets the close code; 1006 is only for no Close frame.
    expect(await log.closed()).toEqual({ code: 4002, description: 'fin right after' });
  });

  bothSides('a TCP close without a close frame, and reports 1006', async (side) => {
    const { peer, log } = await openPair(side);
    peer.socket.destroy();
    expect(await log.closed()).toEqual({ code: 1006, description: 'Connection dropped by remote peer.' });
  });

  bothSidesSend('close(code, reason) as a close frame and completes the handshake on the peer\'s reply', async (side) => {
    const { peer, conn, log } = await openPair(side);
    conn.close(4000, 'app done');
    await peer.expectClose(4000, 'app done');
    // Nothing may follow our close frame (RFC 6455 §5.5.1), not even what the application sends.
    conn.sendUTF('too late');
    await peer.expectEnd();
    peer.send({ opcode: OP.CLOSE, payload: closeBody(4000) });
    peer.end();
    expect(await log.closed()).toEqual({ code: 4000, description: 'app done' });
  });

  bothSidesSend('close() with no arguments as 1000 with the standard description', async (side) => {
    const { peer, conn } = await openPair(side);
    conn.close();
    await peer.expectClose(1000, 'Normal connection closure');
  });

  bothSidesSend('close() with a long multi-byte reason cut at a character boundary to fit 125 bytes', async (side) => {
    const { peer, conn } = await openPair(side);
    conn.close(1000, 'é'.repeat(100));
    // 123 bytes would split a 2-byte character: 61 characters (122 bytes) go out.
    await peer.expectClose(1000, 'é'.repeat(61));
  });

  bothSidesSend('nothing for close() with a code that must not appear on the wire (it throws)', async (side) => {
    const { peer, conn } = await openPair(side);
    for (const code of [1004, 1005, 1006, 1015]) expect(() => conn.close(code)).toThrow(`Close code ${code} is not valid.`);
    conn.sendUTF('still open');
    await peer.expectFrame(OP.TEXT, 'still open');
  });
});
