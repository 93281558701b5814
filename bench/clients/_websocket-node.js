'use strict';
// WebSocketClient (the WebSocket-Node API) keeping a window of messages in flight on one connection.

const { setup, tracker, run } = require('./_common');

module.exports = function start(moduleName) {
  const ctx = setup();
  const { o } = ctx;
  const { client: WebSocketClient } = require(moduleName);
  run(ctx, ({ state, fail, connected }) => {
    const client = new WebSocketClient({
      maxReceivedFrameSize: 64 * 1024 * 1024,
      maxReceivedMessageSize: 64 * 1024 * 1024,
      fragmentOutgoingMessages: false,
    });
    client.on('connectFailed', (err) => fail(`connect failed: ${err.message || err}`));
    client.on('connect', (connection) => {
      const t = tracker(ctx);
      const send = (m) => (typeof m === 'string' ? connection.sendUTF(m) : connection.sendBytes(m));
      connection.on('error', (err) => fail(`connection error: ${err.message}`));
      connection.on('close', (code) => {
        if (state.running) fail(`connection closed: ${code}`);
      });
      connection.on('message', (message) => {
        t.received(message.type === 'utf8' ? message.utf8Data : message.binaryData);
        if (state.running) send(t.next());
      });
      connected(() => connection.drop());
      for (let i = 0; i < o.window; i++) send(t.next());
    });
    client.connect(`ws://127.0.0.1:${o.port}/`);
  });
};
