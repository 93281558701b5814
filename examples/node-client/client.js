#!/usr/bin/env node
'use strict';
// A Node client for examples/echo-server: connects with 'echo-protocol', sends a few text
// messages and one binary message, prints each echo, then closes once everything came back.
// Usage: node examples/node-client/client.js [ws://127.0.0.1:8080/]
var WebSocketClient = require('websocket').client;

var url = process.argv[2] || 'ws://127.0.0.1:' + (process.env.PORT || 8080) + '/';
var texts = ['Hello', 'from', 'WebSocket-Node'];
var bytes = Buffer.from([0xde, 0xad, 0xbe, 0xef]);

var client = new WebSocketClient();

client.on('connectFailed', function (error) {
  console.log('Connect Error: ' + error.toString());
  process.exitCode = 1;
});

client.on('connect', function (connection) {
  console.log('WebSocket Client Connected (protocol: ' + connection.protocol + ')');
  var pending = texts.length + 1;

  connection.on('error', function (error) {
    console.log('Connection Error: ' + error.toString());
    process.exitCode = 1;
  });

  connection.on('close', function (reasonCode, description) {
    console.log('Connection Closed. Code: ' + reasonCode + ' Reason: ' + description);
  });

  connection.on('message', function (message) {
    if (message.type === 'utf8') {
      console.log("Received: '" + message.utf8Data + "'");
    } else {
      console.log('Received binary: ' + message.binaryData.toString('hex'));
    }
    pending -= 1;
    if (pending === 0) {
      connection.close(1000, 'All echoes received');
    }
  });

  texts.forEach(function (text) {
    connection.sendUTF(text);
  });
  connection.sendBytes(bytes);
});

client.connect(url, 'echo-protocol');
