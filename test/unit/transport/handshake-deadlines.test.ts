/**
 * HandshakeDeadlines (lib/transport/handshake-deadlines.ts) under jest's fake timers: one timer per
 * server for every pending request's handshakeTimeout, refusing each request exactly when its own
 * time is up (as WebSocket-Node's per-request setTimeout did), skipping answered ones, and leaving
 * no timer behind once nothing is pending.
 */
import { HandshakeDeadlines, type TimedRequest } from '../../../lib/transport/handshake-deadlines';

interface FakeRequest extends TimedRequest {
  name: string;
}

function request(name: string): FakeRequest {
  return { name, _deadline: 0, _resolved: false };
}

describe('HandshakeDeadlines (fake timers)', () => {
  let pending: FakeRequest[];
  let expired: string[];
  let deadlines: HandshakeDeadlines<FakeRequest>;

  beforeEach(() => {
    jest.useFakeTimers();
    pending = [];
    expired = [];
    // As the server does: refusing a request takes it off the pending list.
    deadlines = new HandshakeDeadlines(pending, (r) => {
      expired.push(r.name);
      r._resolved = true;
      pending.splice(pending.indexOf(r), 1);
    });
  });

  afterEach(() => {
    deadlines.stop();
    jest.useRealTimers();
  });

  function arrive(name: string, ms: number): FakeRequest {
    const r = request(name);
    pending.push(r);
    deadlines.add(r, ms);
    return r;
  }

  test('refuses a request exactly when its timeout is up, not a millisecond before', () => {
    arrive('a', 30000);
    jest.advanceTimersByTime(29999);
    expect(expired).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(expired).toEqual(['a']);
    expect(jest.getTimerCount()).toBe(0);
  });

  test('exactly on time at a clock reading where now + timeout - now rounds above the timeout', () => {
    // (65119.4091179234 + 30000) - 65119.4091179234 is 30000.000000000007 in floating point: a
    // delay computed from the deadline came out 30001 ms once rounded up (a flaky 408 test in CI).
    const now = jest.spyOn(performance, 'now').mockReturnValue(65119.4091179234);
    try {
      expect(65119.4091179234 + 30000 - 65119.4091179234).toBeGreaterThan(30000);
      arrive('a', 30000);
      jest.advanceTimersByTime(29999);
      expect(expired).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(expired).toEqual(['a']);
    } finally {
      now.mockRestore();
    }
  });

  test('the next deadline after a firing is on time too, where the difference of two clock readings carries float noise', () => {
    // The (faked) clock follows the fake time from 31568.07250872986, where (x + 1300) - (x + 1000) is
    // 300.00000000000364: the timer for the second request must still run 300 ms, not 301.
    const base = 31568.07250872986;
    const start = Date.now();
    const now = jest.spyOn(performance, 'now').mockImplementation(() => base + (Date.now() - start));
    try {
      expect(base + 1300 - (base + 1000)).toBeGreaterThan(300);
      arrive('a', 1000);
      jest.advanceTimersByTime(300);
      arrive('b', 1000);
      jest.advanceTimersByTime(700);
      expect(expired).toEqual(['a']);
      jest.advanceTimersByTime(299);
      expect(expired).toEqual(['a']);
      jest.advanceTimersByTime(1);
      expect(expired).toEqual(['a', 'b']);
    } finally {
      now.mockRestore();
    }
  });

  test('requests arriving apart share one timer and each is refused at its own deadline', () => {
    arrive('a', 1000);
    jest.advanceTimersByTime(300);
    arrive('b', 1000);
    jest.advanceTimersByTime(300);
    arrive('c', 1000);
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(399);
    expect(expired).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(expired).toEqual(['a']);
    jest.advanceTimersByTime(299);
    expect(expired).toEqual(['a']);
    jest.advanceTimersByTime(1);
    expect(expired).toEqual(['a', 'b']);
    jest.advanceTimersByTime(300);
    expect(expired).toEqual(['a', 'b', 'c']);
    expect(jest.getTimerCount()).toBe(0);
  });

  test('an answered request is never refused; the others still are', () => {
    const a = arrive('a', 1000);
    arrive('b', 1000);
    // Answered in time: resolved and off the list, as accept() and reject() leave it.
    a._resolved = true;
    pending.splice(pending.indexOf(a), 1);
    jest.advanceTimersByTime(1000);
    expect(expired).toEqual(['b']);
  });

  test('a shorter timeout after a longer one (the config changed) is refused first', () => {
    arrive('long', 5000);
    jest.advanceTimersByTime(100);
    arrive('short', 1000);
    jest.advanceTimersByTime(1000);
    expect(expired).toEqual(['short']);
    jest.advanceTimersByTime(3899);
    expect(expired).toEqual(['short']);
    jest.advanceTimersByTime(1);
    expect(expired).toEqual(['short', 'long']);
    expect(jest.getTimerCount()).toBe(0);
  });

  test('stop() leaves no timer and refuses nothing', () => {
    arrive('a', 1000);
    deadlines.stop();
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(5000);
    expect(expired).toEqual([]);
  });
});
