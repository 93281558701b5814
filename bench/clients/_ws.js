'use strict';
// ws@8's client keeping a window of messages in flight on one connection.

const { setup, tracker, run } = require('./_common');

module.exports = function start() {
  const ctx = setup();
  const { o } = ctx;
  const WebSocket = require('ws');
  run(ctx, ({ state, fail, connected }) => {
    const ws = new WebSocket(`ws://127.0.0.1:${o.port}/`, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    const t = tracker(ctx);
    ws.on('error', (err) => fail(`ws error: ${err.message}`));
    ws.on('close', (code) => {
      if (state.running) fail(`connection closed: ${code}`);
    });
    ws.on('message', (data, isBinary) => {
      t.received(isBinary ? data : data.toString('utf8'));
      if (state.running) ws.send(t.next());
    });
    ws.on('open', () => {
      connected(() => ws.terminate());
      for (let i = 0; i < o.window; i++) ws.send(t.next());
    });
  });
};
