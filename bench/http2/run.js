'use strict';
// WebSockets over HTTP/2 (RFC 8441) against WebSockets over their own TCP connections, on the same
// server process and the same WebSocketServer: N WebSockets multiplexed as streams of one HTTP/2
// connection vs N TCP connections, echoing 64 B and 64 KiB binary messages. Reports, per layout,
// the time to open all N WebSockets, messages (and MB) per second, and the server's CPU time per
// message, medians of --runs. The load generator and the server are pinned to separate CPUs when
// taskset is available.
//
//   node bench/http2/run.js [--connections 50] [--runs 3] [--duration 3]

const { spawn, spawnSync } = require('child_process');
const path = require('path');
const { lineSplitter } = require('../lib/lines');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const connections = Number(args.connections || 50);
const runs = Number(args.runs || 3);
const duration = Number(args.duration || 3);

const pinned = spawnSync('taskset', ['-c', '1', 'true']).status === 0 && require('os').cpus().length >= 2;
const pin = (cpu, command) => (pinned ? ['taskset', ['-c', String(cpu), ...command]] : [command[0], command.slice(1)]);

/** Spawns a node script; resolves lines of JSON it prints through `onJson`. */
function node(cpu, script, scriptArgs, onJson) {
  const [cmd, argv] = pin(cpu, [process.execPath, path.join(__dirname, script), ...scriptArgs]);
  const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdout.setEncoding('utf8').on('data', lineSplitter((line) => onJson(JSON.parse(line))));
  return child;
}

function startServer() {
  return new Promise((resolve) => {
    const waiters = [];
    const child = node(1, 'server.js', [], (message) => {
      if (message.tcp !== undefined) resolve({ child, ports: message, cpu });
      else if (message.cpu !== undefined) waiters.shift()?.(message.cpu);
    });
    function cpu() {
      return new Promise((r) => {
        waiters.push(r);
        child.stdin.write('cpu\n');
      });
    }
  });
}

function runClient(server, mode, size) {
  return new Promise((resolve, reject) => {
    let cpuStart = 0;
    const window = size >= 65536 ? 8 : 16;
    const child = node(0, 'client.js', ['--mode', mode, '--port', String(server.ports[mode]), '--connections', String(connections), '--size', String(size), '--window', String(window), '--duration', String(duration)], async (message) => {
      if (message.event === 'measuring') cpuStart = await server.cpu();
      else if (message.error) reject(new Error(message.error));
      else if (message.messages !== undefined) {
        const cpuEnd = await server.cpu();
        resolve({ ...message, cpuUsPerMsg: (cpuEnd - cpuStart) / message.messages });
      }
    });
    child.on('exit', (code) => code !== 0 && reject(new Error(`client exited ${code}`)));
  });
}

const MODES = ['tcp', 'h2', 'h2big'];
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

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
          cpuUsPerMsg: median(rs.map((r) => r.cpuUsPerMsg)),
        });
      }
    }
  } finally {
    server.child.stdin.end();
  }
  const label = (mode) =>
    mode === 'tcp'
      ? `${connections} TCP connections (HTTP/1.1 upgrade)`
      : `${connections} streams on 1 HTTP/2 connection, ${mode === 'h2' ? "Node's default windows (64 KiB)" : 'windows 1 MiB per stream and 16 MiB per connection, frames up to 16 MiB'}`;
  console.log(`\nbench/http2: ${connections} WebSockets, medians of ${runs} runs of ${duration} s; ${pinned ? 'load generator on CPU 0, server on CPU 1' : 'not pinned'}; node ${process.version}\n`);
  console.log('| payload | layout | msg/s | MB/s | server CPU µs/msg | setup of all WebSockets (ms) |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const r of rows) {
    // No echo at all in the measured period: the session stalled (see bench/README.md, HTTP/2).
    const cpu = Number.isFinite(r.cpuUsPerMsg) ? r.cpuUsPerMsg.toFixed(2) : 'stalled';
    console.log(`| ${r.size === 64 ? '64 B' : '64 KiB'} | ${label(r.mode)} | ${Math.round(r.msgPerSec).toLocaleString('en-US')} | ${r.mbPerSec.toFixed(1)} | ${cpu} | ${r.setupMs.toFixed(1)} |`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
