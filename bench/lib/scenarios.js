'use strict';
// Every scenario run.js knows. `type` picks the driver:
//   echo       load generator against each server implementation (msg/s or MB/s)
//              `deflate: true` negotiates permessage-deflate; only the `impls` listed can run it
//   handshake  open + close as fast as possible with bounded concurrency
//   rss        server RSS growth per idle connection
//   latency    fixed-rate round trips on one connection (rows for p50 and p99)
//   client     each implementation's client against one fixed server
//   micro      codec micro-benchmarks (bench/micro.js), run once, not per implementation

const KiB = 1024;
const MiB = 1024 * 1024;

// Big messages saturate the load generator's core (mostly kernel time in loopback TCP) before the
// server's, so MB/s shows the harness's ceiling as much as the server. Two more rows: the server's
// CPU time per GB echoed, and the user-space part of it (the rest is the kernel's TCP work, much
// the same for every implementation), which is what an implementation controls most directly.
const SERVER_CPU_METRICS = [
  { key: 'value', unit: 'MB/s' },
  { key: 'serverCpuMsPerGB', unit: 'server CPU ms/GB', lower: true },
  { key: 'serverUserCpuMsPerGB', unit: 'server user CPU ms/GB', lower: true },
];

const SCENARIOS = [
  { id: 'binary64-1', type: 'echo', title: '64 B binary, 1 connection', kind: 'binary', size: 64, connections: 1, window: 64, unit: 'msg/s' },
  { id: 'binary64-50', type: 'echo', title: '64 B binary, 50 connections', kind: 'binary', size: 64, connections: 50, window: 64, unit: 'msg/s' },
  { id: 'text64-1', type: 'echo', title: '64 B ASCII text, 1 connection', kind: 'text', size: 64, connections: 1, window: 64, unit: 'msg/s' },
  { id: 'text64-50', type: 'echo', title: '64 B ASCII text, 50 connections', kind: 'text', size: 64, connections: 50, window: 64, unit: 'msg/s' },
  { id: 'utf8-64-1', type: 'echo', title: '64 B multi-byte UTF-8 text, 1 connection', kind: 'utf8', size: 64, connections: 1, window: 64, unit: 'msg/s' },
  { id: 'utf8-64-50', type: 'echo', title: '64 B multi-byte UTF-8 text, 50 connections', kind: 'utf8', size: 64, connections: 50, window: 64, unit: 'msg/s' },
  // Fewer messages in flight for big payloads: the window only has to keep the pipe full.
  { id: 'binary64k', type: 'echo', title: '64 KiB binary, 1 connection', kind: 'binary', size: 64 * KiB, connections: 1, window: 16, unit: 'MB/s', metrics: SERVER_CPU_METRICS },
  // The layout of the neutral harness: several connections, each with a few messages in flight.
  { id: 'binary64k-4x8', type: 'echo', title: '64 KiB binary, 4 connections x 8 in flight', kind: 'binary', size: 64 * KiB, connections: 4, window: 8, unit: 'MB/s', metrics: SERVER_CPU_METRICS },
  { id: 'binary1m', type: 'echo', title: '1 MiB binary, 1 connection', kind: 'binary', size: MiB, connections: 1, window: 4, unit: 'MB/s', metrics: SERVER_CPU_METRICS },
  // Compressed JSON. The servers get the same parameters (lib/deflate.js); the load generator
  // offers no context takeover both ways, so each message is compressed on its own. Two rows per
  // scenario: messages and uncompressed payload bytes per second. Upstream websocket and raw have
  // no permessage-deflate.
  ...[1, 10].map((connections) => ({
    id: `deflate-16k-${connections}`,
    type: 'echo',
    title: `16 KiB JSON text, permessage-deflate both ways, ${connections} connection${connections > 1 ? 's' : ''}`,
    kind: 'json',
    size: 16 * KiB,
    connections,
    window: 8,
    unit: 'msg/s',
    deflate: true,
    impls: ['ours', 'ours-async', 'ours-before', 'ws', 'ws-nobufferutil'],
    metrics: [
      { key: 'msgPerS', unit: 'msg/s' },
      { key: 'mbPerS', unit: 'MB/s' },
      // The whole process's CPU time (zlib's thread pool included) per message echoed.
      { key: 'serverCpuUsPerMsg', unit: 'server CPU µs/msg', lower: true },
    ],
  })),
  // The server's CPU time per handshake as a second row: the rate is noisy (the load generator does
  // as much work per connection as the server) and bounded by the harness (see raw).
  {
    id: 'handshakes',
    type: 'handshake',
    title: 'handshake + close, 16 at a time',
    concurrency: 16,
    unit: 'conn/s',
    metrics: [
      { key: 'value', unit: 'conn/s' },
      { key: 'serverCpuUsPerConn', unit: 'server CPU µs/conn', lower: true },
    ],
  },
  { id: 'rss-2000', type: 'rss', title: 'server RSS per idle connection, 2,000 connections', connections: 2000, unit: 'KiB/conn', lower: true },
  // The same after 500 connections were opened and closed: per-connection memory without what the
  // server spends once (see bench/README).
  {
    id: 'rss-2000-warm',
    type: 'rss',
    title: 'server RSS per idle connection, 2,000 connections, after 500 opened and closed',
    connections: 2000,
    warmConnections: 500,
    unit: 'KiB/conn',
    lower: true,
  },
  { id: 'latency-1000', type: 'latency', title: 'round trip at 1,000 msg/s, 64 B binary, 1 connection', kind: 'binary', size: 64, rate: 1000, unit: 'µs', lower: true },
  { id: 'client-binary64', type: 'client', title: 'client: 64 B binary, 1 connection, vs fixed server', kind: 'binary', size: 64, connections: 1, window: 64, unit: 'msg/s' },
  // Like the big server rows, the client's own CPU time per GB as a second row (`raw`: the load
  // generator's, the least a client can spend).
  {
    id: 'client-binary64k',
    type: 'client',
    title: 'client: 64 KiB binary, 1 connection, vs fixed server',
    kind: 'binary',
    size: 64 * KiB,
    connections: 1,
    window: 16,
    unit: 'MB/s',
    metrics: [
      { key: 'value', unit: 'MB/s' },
      { key: 'cpuMsPerGB', unit: 'client CPU ms/GB', lower: true },
    ],
  },
  { id: 'micro', type: 'micro', title: 'codec micro-benchmarks' },
];

const deflateIds = SCENARIOS.filter((s) => s.deflate).map((s) => s.id);

const GROUPS = {
  all: SCENARIOS.map((s) => s.id),
  echo: SCENARIOS.filter((s) => s.type === 'echo' && !s.deflate).map((s) => s.id),
  deflate: deflateIds,
  'deflate-16k': deflateIds,
  server: SCENARIOS.filter((s) => ['echo', 'handshake', 'rss', 'latency'].includes(s.type)).map((s) => s.id),
  client: SCENARIOS.filter((s) => s.type === 'client').map((s) => s.id),
};

// Implementations that are an echo server only, with no clients/<name>.js: `ours-async` is the
// server side of `ours` written another way, and its client would be `ours`' client.
const SERVER_ONLY = ['ours-async'];

// Whether `impl` can run scenario `sc` at all (upstream websocket cannot compress; a server-only
// implementation has no client rows).
function supports(sc, impl) {
  if (sc.type === 'client' && SERVER_ONLY.includes(impl)) return false;
  return !sc.impls || sc.impls.includes(impl);
}

function byId(id) {
  return SCENARIOS.find((s) => s.id === id);
}

module.exports = { SCENARIOS, GROUPS, byId, supports, KiB, MiB };
