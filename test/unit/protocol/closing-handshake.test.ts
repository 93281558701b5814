/**
 * The closing handshake as a pure state machine (RFC 6455 §5.5.1, §7): every transition from both
 * initiators, failing before and after a Close, the reply codes, and what it tells the transport
 * (refuse frames, start a deadline, close TCP) in each state.
 */
import { ClosingHandshake, type CloseState } from '../../../lib/protocol/closing-handshake';

interface Flags {
  state: CloseState;
  closeSent: boolean;
  closeReceived: boolean;
  refusesFrames: boolean;
  needsDeadline: boolean;
  mustCloseTcp: boolean;
}

function flags(h: ClosingHandshake): Flags {
  return {
    state: h.state,
    closeSent: h.closeSent,
    closeReceived: h.closeReceived,
    refusesFrames: h.refusesFrames,
    needsDeadline: h.needsDeadline,
    mustCloseTcp: h.mustCloseTcp,
  };
}

const OPEN: Flags = {
  state: 'open',
  closeSent: false,
  closeReceived: false,
  refusesFrames: false,
  needsDeadline: false,
  mustCloseTcp: false,
};

describe('ClosingHandshake: a new handshake', () => {
  test('starts open: frames allowed, no deadline, TCP stays', () => {
    expect(flags(new ClosingHandshake())).toEqual(OPEN);
  });
});

describe('ClosingHandshake: we close first (RFC 6455 §7.1.2)', () => {
  test('open → closing-local: frames refused, a deadline runs, TCP not closed yet', () => {
    const h = new ClosingHandshake();
    expect(h.startLocal()).toBe(true);
    expect(flags(h)).toEqual({
      state: 'closing-local',
      closeSent: true,
      closeReceived: false,
      refusesFrames: true,
      needsDeadline: true,
      mustCloseTcp: false,
    });
  });

  test('a second startLocal() sends nothing (one Close per endpoint, §5.5.1) and changes nothing', () => {
    const h = new ClosingHandshake();
    h.startLocal();
    const before = flags(h);
    expect(h.startLocal()).toBe(false);
    expect(flags(h)).toEqual(before);
  });

  test.each([true, false])('closing-local → closed when the peer answers (valid: %s); no reply is due', (isValid) => {
    const h = new ClosingHandshake();
    h.startLocal();
    expect(h.receive(isValid)).toBe(0);
    expect(flags(h)).toEqual({
      state: 'closed',
      closeSent: true,
      closeReceived: true,
      refusesFrames: true,
      needsDeadline: true,
      mustCloseTcp: true,
    });
  });

  test('after the exchange startLocal() still refuses to send another Close', () => {
    const h = new ClosingHandshake();
    h.startLocal();
    h.receive(true);
    expect(h.startLocal()).toBe(false);
    expect(h.state).toBe('closed');
  });

  test('closing-local → closed when the TCP connection goes before the answer; TCP was not ours to close', () => {
    const h = new ClosingHandshake();
    h.startLocal();
    h.socketClosed();
    expect(flags(h)).toEqual({
      state: 'closed',
      closeSent: true,
      closeReceived: false,
      refusesFrames: true,
      needsDeadline: true,
      mustCloseTcp: false,
    });
  });
});

describe('ClosingHandshake: the peer closes first (RFC 6455 §5.5.1)', () => {
  test('a valid Close → closing-remote, reply 1000; frames are still allowed until we answer', () => {
    const h = new ClosingHandshake();
    expect(h.receive(true)).toBe(1000);
    expect(flags(h)).toEqual({
      state: 'closing-remote',
      closeSent: false,
      closeReceived: true,
      refusesFrames: false,
      needsDeadline: false,
      mustCloseTcp: false,
    });
  });

  test('a malformed Close (1-byte body or an unsendable code, §7.4.1) is answered with 1002', () => {
    const h = new ClosingHandshake();
    expect(h.receive(false)).toBe(1002);
    expect(h.state).toBe('closing-remote');
    expect(h.closeReceived).toBe(true);
  });

  test('our answer (startLocal) completes the exchange: TCP must close now (§7.1.1), a deadline runs', () => {
    const h = new ClosingHandshake();
    h.receive(true);
    expect(h.startLocal()).toBe(true);
    expect(flags(h)).toEqual({
      state: 'closing-remote',
      closeSent: true,
      closeReceived: true,
      refusesFrames: true,
      needsDeadline: true,
      mustCloseTcp: true,
    });
    // Only one answer is ever sent.
    expect(h.startLocal()).toBe(false);
  });

  test('closing-remote → closed when the socket closes', () => {
    const h = new ClosingHandshake();
    h.receive(true);
    h.startLocal();
    h.socketClosed();
    expect(h.state).toBe('closed');
    expect(h.mustCloseTcp).toBe(true);
  });

  test('a second Close from the peer after we answered asks for no further reply', () => {
    const h = new ClosingHandshake();
    expect(h.receive(true)).toBe(1000);
    h.startLocal();
    expect(h.receive(true)).toBe(0);
    expect(h.state).toBe('closed');
  });
});

describe('ClosingHandshake: failing the connection (RFC 6455 §7.1.7)', () => {
  test('fail() while open: a Close may still be sent; closed, frames refused', () => {
    const h = new ClosingHandshake();
    expect(h.fail()).toBe(true);
    expect(flags(h)).toEqual({
      state: 'closed',
      closeSent: true,
      closeReceived: false,
      refusesFrames: true,
      needsDeadline: true,
      mustCloseTcp: false,
    });
  });

  test('fail() after our Close: no second Close', () => {
    const h = new ClosingHandshake();
    h.startLocal();
    expect(h.fail()).toBe(false);
    expect(h.state).toBe('closed');
    expect(h.closeSent).toBe(true);
  });

  test('fail() after the peer\'s Close but before our answer: our Close may still go', () => {
    const h = new ClosingHandshake();
    h.receive(true);
    expect(h.fail()).toBe(true);
    expect(flags(h)).toEqual({
      state: 'closed',
      closeSent: true,
      closeReceived: true,
      refusesFrames: true,
      needsDeadline: true,
      mustCloseTcp: true,
    });
  });

  test('fail() after both Close frames: nothing to send', () => {
    const h = new ClosingHandshake();
    h.startLocal();
    h.receive(true);
    expect(h.fail()).toBe(false);
    expect(h.state).toBe('closed');
  });

  test('fail() twice: only the first may send', () => {
    const h = new ClosingHandshake();
    expect(h.fail()).toBe(true);
    expect(h.fail()).toBe(false);
  });

  test('after fail(): startLocal() sends nothing and a late Close from the peer needs no reply', () => {
    const h = new ClosingHandshake();
    h.fail();
    expect(h.startLocal()).toBe(false);
    expect(h.receive(true)).toBe(0);
    expect(h.state).toBe('closed');
    expect(h.mustCloseTcp).toBe(true);
  });
});

describe('ClosingHandshake: the TCP connection goes first', () => {
  test('socketClosed() while open: closed; no Close was exchanged, so no deadline and no TCP close is asked for', () => {
    const h = new ClosingHandshake();
    h.socketClosed();
    expect(h.state).toBe('closed');
    expect([h.closeSent, h.closeReceived, h.needsDeadline, h.mustCloseTcp]).toEqual([false, false, false, false]);
    // A late startLocal() does not move it back to closing-local.
    h.startLocal();
    expect(h.state).toBe('closed');
  });

  test('socketClosed() while the peer\'s Close waits for our answer', () => {
    const h = new ClosingHandshake();
    h.receive(true);
    h.socketClosed();
    expect(h.state).toBe('closed');
    expect(h.closeReceived).toBe(true);
    expect(h.mustCloseTcp).toBe(false);
  });
});
