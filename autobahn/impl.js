'use strict';
// Picks the implementation under test, so the same testees and runner can measure
// ours and upstream WebSocket-Node 1.0.35 side by side.
//   AUTOBAHN_IMPL=ours      require('websocket')           (default; resolves to this repo)
//   AUTOBAHN_IMPL=upstream  require('websocket-upstream')  (websocket@1.0.35 from npm)

const IMPLS = {
  ours: { moduleName: 'websocket', agent: 'WebSocket-Node-TS' },
  upstream: { moduleName: 'websocket-upstream', agent: 'WebSocket-Node-1.0.35-upstream' },
};

function selectedImpl() {
  const name = (process.env.AUTOBAHN_IMPL || 'ours').trim().toLowerCase();
  const impl = IMPLS[name];
  if (!impl) {
    throw new Error(`AUTOBAHN_IMPL must be one of ${Object.keys(IMPLS).join(', ')}; got "${name}"`);
  }
  return { name, ...impl };
}

function loadImpl() {
  const impl = selectedImpl();
  return { ...impl, websocket: require(impl.moduleName) };
}

// The limits are far above the suite's largest payload (16 MiB in 9.x) so that the
// 9.x cases measure throughput and framing, not our default size caps. Fragmenting
// is off so that echoed frames mirror what the fuzzer sent.
const TESTEE_CONFIG = {
  maxReceivedFrameSize: 64 * 1024 * 1024,
  maxReceivedMessageSize: 64 * 1024 * 1024,
  fragmentOutgoingMessages: false,
  // Ours negotiates permessage-deflate with it (12.x/13.x); upstream ignores unknown keys.
  perMessageDeflate: true,
};

module.exports = { IMPLS, selectedImpl, loadImpl, TESTEE_CONFIG };
