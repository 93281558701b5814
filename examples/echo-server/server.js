#!/usr/bin/env node
'use strict';
// The echo-protocol server from the WebSocket-Node docs, written the way a user of the
// `websocket` package writes it, plus a tiny HTTP handler that serves the demo page.
var WebSocketServer = require('websocket').server;
var http = require('http');
var fs = require('fs');
var path = require('path');

var port = Number(process.env.PORT || 8080);
var indexPath = path.join(__dirname, 'index.html');

var server = http.createServer(function (request, response) {
  console.log(new Date() + ' Received request for ' + request.url);
  if (request.method === 'GET' && (request.url === '/' || request.url === '/index.html')) {
    // Read on every request so the page can be edited without restarting the server.
    fs.readFile(indexPath, function (err, html) {
      if (err) {
        response.writeHead(500, { 'Content-Type': 'text/plain' });
        response.end('Could not read index.html\n');
        return;
      }
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      response.end(html);
    });
    return;
  }
  response.writeHead(404);
  response.end();
});

// HOST is optional; without it the server listens on every interface, like server.listen(8080).
server.listen(port, process.env.HOST || undefined, function () {
  console.log(new Date() + ' Server is listening on port ' + server.address().port);
});

var wsServer = new WebSocketServer({
  httpServer: server,
  // Never accept automatically in production: every request should pass an origin check first.
  autoAcceptConnections: false,
  // New in this package (off unless asked): PERMESSAGE_DEFLATE=1 negotiates RFC 7692 compression
  // with browsers, here for every message (threshold 0) so even short echoes travel compressed.
  perMessageDeflate: process.env.PERMESSAGE_DEFLATE === '1' ? { threshold: 0 } : false,
});

// Browsers always send Origin; accept only pages served by this server itself. Non-browser
// clients (such as examples/node-client) usually send no Origin at all, so let them in.
function originIsAllowed(origin, host) {
  if (!origin) return true;
  return origin === 'http://' + host || origin === 'https://' + host;
}

wsServer.on('request', function (request) {
  if (!originIsAllowed(request.origin, request.host)) {
    request.reject();
    console.log(new Date() + ' Connection from origin ' + request.origin + ' rejected.');
    return;
  }

  // Shows what the client could negotiate (browsers offer permessage-deflate).
  var offered = request.httpRequest.headers['sec-websocket-extensions'];
  console.log(new Date() + ' Sec-WebSocket-Extensions offered: ' + (offered || '(none)'));

  var connection;
  try {
    // Throws when the client did not ask for 'echo-protocol'; the request is rejected for us.
    connection = request.accept('echo-protocol', request.origin);
  } catch (err) {
    console.log(new Date() + ' Connection refused: ' + err.message);
    return;
  }
  console.log(new Date() + ' Connection accepted.');
  var agreed = connection.extensions.map(function (e) {
    return e.value ? e.name + '; ' + e.value : e.name;
  });
  console.log(new Date() + ' Extensions agreed: ' + (agreed.join(', ') || '(none)'));

  connection.on('message', function (message) {
    if (message.type === 'utf8') {
      console.log('Received Message: ' + message.utf8Data);
      connection.sendUTF(message.utf8Data);
    } else if (message.type === 'binary') {
      console.log('Received Binary Message of ' + message.binaryData.length + ' bytes');
      connection.sendBytes(message.binaryData);
    }
  });

  connection.on('close', function (reasonCode, description) {
    console.log(
      new Date() + ' Peer ' + connection.remoteAddress + ' disconnected. Code: ' + reasonCode + ' Reason: ' + description
    );
  });
});
