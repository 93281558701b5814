'use strict';
// Shared by the client benchmarks: the same payloads, window, echo checks and timing as the load
// generator, so a library client is measured exactly like the raw one.

const { makePayloads } = require('../lib/frames');
const { byId } = require('../lib/scenarios');
const { Stats, measure, result, emit, controlChannel, parseArgs } = require('../loadgen');

function setup() {
  const args = parseArgs(process.argv.slice(2));
  const scenario = byId(args.scenario);
  if (!scenario || scenario.type !== 'client') throw new Error(`not a client scenario: ${args.scenario}`);
  const o = {
    ...scenario,
    port: Number(args.port),
    duration: Number(args.duration || 3),
    warmup: Number(args.warmup || 1),
    sample: Number(args.sample || 17),
  };
  for (const k of ['window', 'size']) if (args[k]) o[k] = Number(args[k]);
  if (args.kind) o.kind = args.kind;
  controlChannel();
  const payloads = makePayloads(o.kind, o.size, o.window);
  // Text goes out as strings, as an application would send it.
  const messages = o.kind === 'binary' ? payloads : payloads.map((p) => p.toString('utf8'));
  return { o, payloads, messages, stats: new Stats() };
}

// Per connection: call `received(data)` for each echo (Buffer or string); it returns false once
// the run is over. `next()` gives the message to send next.
function tracker({ o, payloads, messages, stats }) {
  let recvIndex = 0;
  let sendIndex = 0;
  return {
    next() {
      return messages[sendIndex++ % messages.length];
    },
    received(data) {
      const expected = messages[recvIndex % messages.length];
      const isString = typeof data === 'string';
      const length = isString ? Buffer.byteLength(data) : data.length;
      if (length !== payloads[recvIndex % payloads.length].length) {
        stats.mismatch(`echo #${recvIndex} has ${length} bytes, sent ${payloads[recvIndex % payloads.length].length}`);
      } else if (o.sample > 0 && recvIndex % o.sample === 0) {
        stats.checked++;
        const same = isString ? data === expected : typeof expected !== 'string' && data.equals(expected);
        if (!same) stats.mismatch(`echo #${recvIndex} differs from what was sent`);
      }
      recvIndex++;
      stats.messages++;
      stats.bytes += length;
    },
  };
}

function run(ctx, onStart) {
  const { o, stats } = ctx;
  const state = { running: true };
  let finished = false;
  let stopMeasure = null;
  let cleanup = () => {};
  function finish(measured) {
    if (finished) return;
    finished = true;
    state.running = false;
    if (stopMeasure) stopMeasure();
    try {
      cleanup();
    } catch {
      // the result is already decided
    }
    const m = measured || { seconds: 0, messages: 0, bytes: 0 };
    const value = measured ? (o.unit === 'MB/s' ? m.bytes / m.seconds / 1e6 : m.messages / m.seconds) : null;
    emit({ result: result(stats, { value, unit: o.unit, ...m }) });
    process.exit(0);
  }
  function fail(msg) {
    stats.error(msg);
    finish(null);
  }
  const timeout = setTimeout(() => fail('could not connect within 10 s'), 10000);
  onStart({
    state,
    fail,
    connected(close) {
      clearTimeout(timeout);
      cleanup = close;
      stopMeasure = measure(stats, o.warmup, o.duration, finish);
    },
  });
}

module.exports = { setup, tracker, run };
