'use strict';
// WebSockets over HTTP/2 (RFC 8441) against WebSockets over their own TCP connections, on the same
// server process and the same WebSocketServer: N WebSockets multiplexed as streams of one HTTP/2
// connection vs N TCP connections, echoing 64 B and 64 KiB binary messages. Reports, per layout,
// the time to open all N WebSockets, messages (and MB) per second, and the server's CPU time per
// message, medians of --runs. The load generator and the server are pinned to separate CPUs when
// taskset is available.
//
//   node bench/http2/run.js [--connections 50] [--runs 3] [--duration 3] [--no-pin] [--loadgen-cpu 0] [--server-cpu 1]

const path = require('path');
const { parseOptions, PIN_OPTIONS } = require('../lib/cli');
const { Child, runMain } = require('../lib/child');
const { detectPinning } = require('../lib/pinning');
const { median } = require('../lib/results');

const HELP = 'Usage: node bench/http2/run.js [--connections 50] [--runs 3] [--duration 3] [--no-pin] [--loadgen-cpu 0] [--server-cpu 1]\n';
const o = parseOptions(
  process.argv.slice(2),
  { connections: 50, runs: 3, duration: 3, pin: true, loadgenCpu: 0, serverCpu: 1 },
  { '--connections': ['connections', 'number'], '--runs': ['runs', 'number'], '--duration': ['duration', 'number'], ...PIN_OPTIONS },
  HELP
);
const { connections, runs, duration } = o;
const pinning = detectPinning(o, 'load generator', 'server');
/** Long enough for any run to finish: setup, warm-up and the measured period, with room to spare. */
const BOUND_MS = (duration + 60) * 1000;

async function startServer() {
  const child = new Child('http2 bench server', path.join(__dirname, 'server.js'), [], { cpu: o.serverCpu, pinning });
  const ports = await child.next((m) => m.tcp !== undefined, 15000);
  const cpu = async () => {
    child.send('cpu');
    return (await child.next((m) => m.cpu !== undefined, 10000)).cpu;
  };
  return { child, ports, cpu };
}

async function runClient(server, mode, size) {
  const window = size >= 65536 ? 8 : 16;
  const args = ['--mode', mode, '--port', String(server.ports[mode]), '--connections', String(connections), '--size', String(size), '--window', String(window), '--duration', String(duration)];
  const client = new Child('http2 bench client', path.join(__dirname, 'client.js'), args, { cpu: o.loadgenCpu, pinning });
  try {
    const first = await client.next((m) => m.event === 'measuring' || m.error !== undefined, BOUND_MS);
    if (first.error !== undefined) throw new Error(first.error);
    const cpuStart = await server.cpu();
    const result = await client.next((m) => m.messages !== undefined || m.error !== undefined, BOUND_MS);
    if (result.error !== undefined) throw new Error(result.error);
    const cpuEnd = await server.cpu();
    return { ...result, cpuUsPerMsg: (cpuEnd - cpuStart) / result.messages };
  } finally {
    await client.stop();
  }
}

const MODES = ['tcp', 'h2', 'h2big'];

async function main() {
  const server = await startServer();
  const rows = [];
  try {
    for (const size of [64, 65536]) {
      const results = { tcp: [], h2: [], h2big: [] };
      for (let run = 0; run < runs; run++) {
        // Interleaved, so drift affects both layouts alike.
        for (const mode of MODES) {
          const r = await runClient(server, mode, size);
          results[mode].push(r);
          const cpu = r.messages > 0 ? `${r.cpuUsPerMsg.toFixed(2)} µs CPU/msg` : 'no echo: stalled';
          process.stderr.write(`${size} B ${mode} run ${run + 1}/${runs}: ${(r.messages / r.seconds).toFixed(0)} msg/s, setup ${r.setupMs.toFixed(1)} ms, ${cpu}\n`);
        }
      }
      for (const mode of MODES) {
        const rs = results[mode];
        rows.push({
          size,
          mode,
          msgPerSec: median(rs.map((r) => r.messages / r.seconds)),
          mbPerSec: median(rs.map((r) => r.bytes / r.seconds / 1e6)),
          setupMs: median(rs.map((r) => r.setupMs)),
          // No echo at all in most runs' measured period: the session stalled (see bench/README.md, HTTP/2).
          cpuUsPerMsg: rs.filter((r) => r.messages === 0).length * 2 > rs.length ? null : median(rs.map((r) => r.cpuUsPerMsg)),
        });
      }
    }
  } finally {
    await server.child.stop();
  }
  const label = (mode) =>
    mode === 'tcp'
      ? `${connections} TCP connections (HTTP/1.1 upgrade)`
      : `${connections} streams on 1 HTTP/2 connection, ${mode === 'h2' ? "Node's default windows (64 KiB)" : 'windows 1 MiB per stream and 16 MiB per connection, frames up to 16 MiB'}`;
  console.log(`\nbench/http2: ${connections} WebSockets, medians of ${runs} runs of ${duration} s; ${pinning.why}; node ${process.version}\n`);
  console.log('| payload | layout | msg/s | MB/s | server CPU µs/msg | setup of all WebSockets (ms) |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const r of rows) {
    const cpu = r.cpuUsPerMsg === null ? 'stalled' : r.cpuUsPerMsg.toFixed(2);
    console.log(`| ${r.size === 64 ? '64 B' : '64 KiB'} | ${label(r.mode)} | ${Math.round(r.msgPerSec).toLocaleString('en-US')} | ${r.mbPerSec.toFixed(1)} | ${cpu} | ${r.setupMs.toFixed(1)} |`);
  }
}

runMain(main);
