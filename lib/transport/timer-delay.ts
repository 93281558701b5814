/**
 * The setTimeout() delay for a deadline held as a performance.now() time, shared by the timers
 * that serve many connections at once (keepalive-list.ts, handshake-deadlines.ts).
 */

/**
 * Differences of performance.now() times carry floating-point noise far below a microsecond
 * (65119.4091179234 + 30000 - 65119.4091179234 is 30000.000000000007); it must not round a delay up
 * to the next whole millisecond.
 */
const FLOAT_NOISE = 1e-6;

/** Whole milliseconds until a deadline `delay` ms away: never early, never a millisecond late from noise, at least 1 (as setTimeout takes it). */
export function timerDelay(delay: number): number {
  return Math.max(1, Math.ceil(delay - FLOAT_NOISE));
}
