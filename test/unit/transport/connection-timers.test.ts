/**
 * ConnectionTimers (lib/transport/connection-timers.ts) under jest's fake timers: keepalive re-armed
 * in place while its duration is unchanged (the same Timeout object, refreshed), a new timer when
 * it changes, grace cleared by activity, one close deadline that is ref'd or unref'd, clearAll.
 */
import { ConnectionTimers, type TimerHost } from '../../../lib/transport/connection-timers';

class RecordingHost implements TimerHost {
  readonly calls: string[] = [];
  handleKeepaliveTimer(): void {
    this.calls.push('keepalive');
  }
  handleGracePeriodTimer(): void {
    this.calls.push('grace');
  }
  handleCloseTimer(): void {
    this.calls.push('deadline');
  }
}

describe('ConnectionTimers (fake timers)', () => {
  let host: RecordingHost;
  let timers: ConnectionTimers;

  beforeEach(() => {
    jest.useFakeTimers();
    host = new RecordingHost();
    timers = new ConnectionTimers(host);
  });

  afterEach(() => {
    timers.clearAll();
    jest.useRealTimers();
  });

  describe('keepalive', () => {
    test('fires once after its duration, not before', () => {
      timers.armKeepalive(1000);
      jest.advanceTimersByTime(999);
      expect(host.calls).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(host.calls).toEqual(['keepalive']);
      jest.advanceTimersByTime(5000);
      expect(host.calls).toEqual(['keepalive']);
    });

    test('re-armed with the same duration: the same Timeout object, refreshed (its deadline moves)', () => {
      timers.armKeepalive(1000);
      const first = timers.keepalive;
      expect(first).not.toBeNull();
      jest.advanceTimersByTime(600);
      timers.armKeepalive(1000);
      expect(timers.keepalive).toBe(first);
      // 1000 ms after the first arming: the refresh pushed it to 1600.
      jest.advanceTimersByTime(400);
      expect(host.calls).toEqual([]);
      jest.advanceTimersByTime(599);
      expect(host.calls).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(host.calls).toEqual(['keepalive']);
      expect(jest.getTimerCount()).toBe(0);
    });

    test('many re-arms create no new timers', () => {
      timers.armKeepalive(1000);
      const first = timers.keepalive;
      for (let i = 0; i < 100; i++) {
        jest.advanceTimersByTime(10);
        timers.armKeepalive(1000);
      }
      expect(timers.keepalive).toBe(first);
      expect(jest.getTimerCount()).toBe(1);
      expect(host.calls).toEqual([]);
    });

    test('a new duration makes a new timer; the old one never fires', () => {
      timers.armKeepalive(1000);
      const first = timers.keepalive;
      timers.armKeepalive(3000);
      expect(timers.keepalive).not.toBe(first);
      expect(jest.getTimerCount()).toBe(1);
      jest.advanceTimersByTime(2999);
      expect(host.calls).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(host.calls).toEqual(['keepalive']);
      // And back to the first duration: new again.
      const second = timers.keepalive;
      timers.armKeepalive(1000);
      expect(timers.keepalive).not.toBe(second);
    });

    test('after fired() the handle is forgotten; arming again makes a fresh timer that fires again', () => {
      const originalFired = host.handleKeepaliveTimer.bind(host);
      host.handleKeepaliveTimer = () => {
        timers.fired('keepalive');
        originalFired();
      };
      timers.armKeepalive(100);
      const first = timers.keepalive;
      jest.advanceTimersByTime(100);
      expect(timers.keepalive).toBeNull();
      timers.armKeepalive(100);
      expect(timers.keepalive).not.toBeNull();
      expect(timers.keepalive).not.toBe(first);
      jest.advanceTimersByTime(100);
      expect(host.calls).toEqual(['keepalive', 'keepalive']);
    });

    test('clearKeepalive stops it', () => {
      timers.armKeepalive(100);
      timers.clearKeepalive();
      expect(timers.keepalive).toBeNull();
      jest.advanceTimersByTime(1000);
      expect(host.calls).toEqual([]);
    });
  });

  describe('grace', () => {
    test('fires after its duration', () => {
      timers.armGrace(500);
      jest.advanceTimersByTime(500);
      expect(host.calls).toEqual(['grace']);
    });

    test('armKeepalive (a sign of life) clears the grace timer', () => {
      timers.armKeepalive(1000);
      jest.advanceTimersByTime(1000);
      expect(host.calls).toEqual(['keepalive']);
      timers.fired('keepalive');
      timers.armGrace(500);
      expect(timers.grace).not.toBeNull();
      jest.advanceTimersByTime(200);
      timers.armKeepalive(1000);
      expect(timers.grace).toBeNull();
      jest.advanceTimersByTime(800);
      expect(host.calls).toEqual(['keepalive']);
    });

    test('arming it again replaces it: one callback', () => {
      timers.armGrace(500);
      jest.advanceTimersByTime(400);
      timers.armGrace(500);
      jest.advanceTimersByTime(400);
      expect(host.calls).toEqual([]);
      jest.advanceTimersByTime(100);
      expect(host.calls).toEqual(['grace']);
      jest.advanceTimersByTime(1000);
      expect(host.calls).toEqual(['grace']);
    });
  });

  describe('close deadline', () => {
    test('fires once, after its duration', () => {
      timers.armDeadline(5000, true);
      jest.advanceTimersByTime(4999);
      expect(host.calls).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(host.calls).toEqual(['deadline']);
    });

    test('keepAlive true keeps the process alive (ref), false does not (unref)', () => {
      timers.armDeadline(5000, true);
      expect(timers.deadline!.hasRef()).toBe(true);
      timers.armDeadline(5000, false);
      expect(timers.deadline!.hasRef()).toBe(false);
      timers.armDeadline(5000, true);
      expect(timers.deadline!.hasRef()).toBe(true);
    });

    test('one deadline: re-armed with the same duration it is the same timer, refreshed', () => {
      timers.armDeadline(5000, true);
      const first = timers.deadline;
      jest.advanceTimersByTime(3000);
      timers.armDeadline(5000, false);
      expect(timers.deadline).toBe(first);
      expect(jest.getTimerCount()).toBe(1);
      jest.advanceTimersByTime(4999);
      expect(host.calls).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(host.calls).toEqual(['deadline']);
    });

    test('a different duration replaces it: still one deadline, the new duration counts', () => {
      timers.armDeadline(5000, true);
      const first = timers.deadline;
      timers.armDeadline(100, false);
      expect(timers.deadline).not.toBe(first);
      expect(timers.deadline!.hasRef()).toBe(false);
      expect(jest.getTimerCount()).toBe(1);
      jest.advanceTimersByTime(100);
      expect(host.calls).toEqual(['deadline']);
      jest.advanceTimersByTime(10_000);
      expect(host.calls).toEqual(['deadline']);
    });

    test('clearDeadline stops it; arming again after that makes a new one', () => {
      timers.armDeadline(100, true);
      const first = timers.deadline;
      timers.clearDeadline();
      expect(timers.deadline).toBeNull();
      jest.advanceTimersByTime(1000);
      expect(host.calls).toEqual([]);
      timers.armDeadline(100, true);
      expect(timers.deadline).not.toBe(first);
      jest.advanceTimersByTime(100);
      expect(host.calls).toEqual(['deadline']);
    });
  });

  test('clearAll clears every timer: none fires, every handle is null', () => {
    timers.armKeepalive(100);
    timers.armGrace(100);
    timers.armDeadline(100, true);
    expect(jest.getTimerCount()).toBe(3);
    timers.clearAll();
    expect([timers.keepalive, timers.grace, timers.deadline]).toEqual([null, null, null]);
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(10_000);
    expect(host.calls).toEqual([]);
  });

  test('each timer calls its own handler on the host it was made with', () => {
    const other = new RecordingHost();
    const otherTimers = new ConnectionTimers(other);
    timers.armKeepalive(10);
    otherTimers.armGrace(20);
    otherTimers.armDeadline(30, true);
    jest.advanceTimersByTime(30);
    expect(host.calls).toEqual(['keepalive']);
    expect(other.calls).toEqual(['grace', 'deadline']);
    otherTimers.clearAll();
  });
});

describe('ConnectionTimers (real timers)', () => {
  test('a real deadline is unref\'d when keepAlive is false and ref\'d when true; refresh keeps the object', () => {
    const timers = new ConnectionTimers(new RecordingHost());
    try {
      timers.armDeadline(60_000, false);
      const first = timers.deadline!;
      expect(first.hasRef()).toBe(false);
      timers.armDeadline(60_000, true);
      expect(timers.deadline).toBe(first);
      expect(first.hasRef()).toBe(true);
      timers.armKeepalive(60_000);
      const keepalive = timers.keepalive;
      timers.armKeepalive(60_000);
      expect(timers.keepalive).toBe(keepalive);
    } finally {
      timers.clearAll();
    }
  });
});
