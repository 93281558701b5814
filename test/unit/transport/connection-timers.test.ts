/**
 * ConnectionTimers (lib/transport/connection-timers.ts) under jest's fake timers: keepalive in a
 * list shared per interval (one Node timer for all, re-arming moves the deadline, exact per
 * connection), grace cleared by activity, one close deadline that is ref'd or unref'd, clearAll.
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

  describe('keepalive (one shared timer per interval)', () => {
    test('fires once after its duration, not before', () => {
      timers.armKeepalive(1000);
      jest.advanceTimersByTime(999);
      expect(host.calls).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(host.calls).toEqual(['keepalive']);
      expect(timers.keepaliveArmed).toBe(false);
      jest.advanceTimersByTime(5000);
      expect(host.calls).toEqual(['keepalive']);
      expect(jest.getTimerCount()).toBe(0);
    });

    test('exactly on time at a clock reading where now + interval - now rounds above the interval', () => {
      // (65119.4091179234 + 30000) - 65119.4091179234 is 30000.000000000007 in floating point:
      // a delay computed from the deadline came out 30001 ms once rounded up.
      const now = jest.spyOn(performance, 'now').mockReturnValue(65119.4091179234);
      try {
        expect(65119.4091179234 + 30000 - 65119.4091179234).toBeGreaterThan(30000);
        timers.armKeepalive(30000);
        jest.advanceTimersByTime(29999);
        expect(host.calls).toEqual([]);
        jest.advanceTimersByTime(1);
        expect(host.calls).toEqual(['keepalive']);
      } finally {
        now.mockRestore();
      }
    });

    test('re-armed with the same duration: its deadline moves, still one Node timer', () => {
      timers.armKeepalive(1000);
      jest.advanceTimersByTime(600);
      timers.armKeepalive(1000);
      expect(jest.getTimerCount()).toBe(1);
      // 1000 ms after the first arming: the re-arm pushed it to 1600.
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
      for (let i = 0; i < 100; i++) {
        jest.advanceTimersByTime(10);
        timers.armKeepalive(1000);
      }
      expect(jest.getTimerCount()).toBe(1);
      expect(host.calls).toEqual([]);
    });

    test('100 connections with one interval share one Node timer, and each fires at its own deadline', () => {
      const hosts = Array.from({ length: 100 }, () => new RecordingHost());
      const all = hosts.map((h) => new ConnectionTimers(h));
      try {
        // Armed 10 ms apart: deadlines 1000, 1010, ... 1990.
        all.forEach((t, i) => {
          if (i > 0) jest.advanceTimersByTime(10);
          t.armKeepalive(1000);
        });
        expect(jest.getTimerCount()).toBe(1);
        // Now at 990: the first is due in 10 ms; re-arm number 5 (due 1050 -> 1990 + 0).
        all[5]!.armKeepalive(1000);
        jest.advanceTimersByTime(10);
        expect(hosts.map((h) => h.calls.length)).toEqual(hosts.map((_, i) => (i === 0 ? 1 : 0)));
        jest.advanceTimersByTime(50);
        // 1050: numbers 0..5 were due by their first arming, but 5 was re-armed.
        expect(hosts.map((h) => h.calls.length)).toEqual(hosts.map((_, i) => (i <= 5 && i !== 5 ? 1 : 0)));
        jest.advanceTimersByTime(940);
        // 1990: all fired once, number 5 (re-armed at 990) included.
        expect(hosts.every((h) => h.calls.length === 1)).toBe(true);
        expect(jest.getTimerCount()).toBe(0);
      } finally {
        for (const t of all) t.clearAll();
      }
    });

    test('a new duration moves it to that interval: the old deadline never fires', () => {
      timers.armKeepalive(1000);
      timers.armKeepalive(3000);
      expect(jest.getTimerCount()).toBe(1);
      jest.advanceTimersByTime(2999);
      expect(host.calls).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(host.calls).toEqual(['keepalive']);
      timers.armKeepalive(1000);
      jest.advanceTimersByTime(1000);
      expect(host.calls).toEqual(['keepalive', 'keepalive']);
    });

    test('re-armed from its own handler: fires again one interval later (WebSocket-Node pings every interval)', () => {
      host.handleKeepaliveTimer = () => {
        host.calls.push('keepalive');
        timers.armKeepalive(100);
      };
      timers.armKeepalive(100);
      jest.advanceTimersByTime(100);
      expect(host.calls).toEqual(['keepalive']);
      expect(timers.keepaliveArmed).toBe(true);
      jest.advanceTimersByTime(99);
      expect(host.calls).toEqual(['keepalive']);
      jest.advanceTimersByTime(1);
      expect(host.calls).toEqual(['keepalive', 'keepalive']);
    });

    test('an interval of 0 or not a number is 1 ms, as setTimeout takes it; re-armed from its handler it cannot spin', () => {
      let fired = 0;
      host.handleKeepaliveTimer = () => {
        fired++;
        timers.armKeepalive(0);
      };
      timers.armKeepalive(0);
      jest.advanceTimersByTime(1);
      expect(fired).toBe(1);
      jest.advanceTimersByTime(1);
      expect(fired).toBe(2);
      timers.clearKeepalive();
      const other = new ConnectionTimers(new RecordingHost());
      other.armKeepalive(Number.NaN);
      jest.advanceTimersByTime(1);
      expect(other.keepaliveArmed).toBe(false);
    });

    test('a handler that throws does not stop the keepalive of the others', () => {
      const second = new RecordingHost();
      const secondTimers = new ConnectionTimers(second);
      host.handleKeepaliveTimer = () => {
        throw new Error('from a ping listener');
      };
      timers.armKeepalive(100);
      secondTimers.armKeepalive(100);
      expect(() => jest.advanceTimersByTime(100)).toThrow('from a ping listener');
      jest.advanceTimersByTime(1);
      expect(second.calls).toEqual(['keepalive']);
      secondTimers.clearAll();
    });

    test('clearKeepalive stops it; when the last one leaves, no Node timer is left', () => {
      const other = new ConnectionTimers(new RecordingHost());
      timers.armKeepalive(100);
      other.armKeepalive(100);
      timers.clearKeepalive();
      expect(timers.keepaliveArmed).toBe(false);
      expect(jest.getTimerCount()).toBe(1);
      other.clearKeepalive();
      expect(jest.getTimerCount()).toBe(0);
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
    expect([timers.keepaliveArmed, timers.grace, timers.deadline]).toEqual([false, null, null]);
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
      expect(timers.keepaliveArmed).toBe(true);
    } finally {
      timers.clearAll();
    }
  });
});
