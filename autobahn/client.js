'use strict';
// Autobahn testee for the client side (wstest -m fuzzingserver must be listening).
// Written against the public WebSocket-Node API only, the way an application would.
//
//   node autobahn/client.js [--url ws://127.0.0.1:9002] [--agent NAME]
//   AUTOBAHN_IMPL=upstream node autobahn/client.js
//
// Asks the fuzzing server for the number of cases, runs each one by echoing every message
// back until the server closes, then asks it to write its reports for our agent name.

const { loadImpl, TESTEE_CONFIG } = require('./impl');

const impl = loadImpl();
const WebSocketClient = impl.websocket.client;
const debug = !!process.env.AUTOBAHN_DEBUG;

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const baseUrl = option('url', 'ws://127.0.0.1:9002').replace(/\/+$/, '');
const agent = option('agent', impl.agent);
// A safety net only: no case needs this long, but a testee that never sees the close must
// not stall the whole run.
const CASE_TIMEOUT_MS = Number(process.env.AUTOBAHN_CASE_TIMEOUT_MS || 120000);

function newClient() {
  return new WebSocketClient({ ...TESTEE_CONFIG });
}

// Connects to one fuzzing-server URL; resolves once that connection is over, whatever happened.
function session(path, onConnection) {
  return new Promise((resolve) => {
    const client = newClient();
    let settled = false;
    const done = (value) => {
      if (!settled) {
        settled = true;
        resolve(value);
      }
    };
    client.on('connectFailed', (err) => {
      // Several cases are meant to make the handshake fail (e.g. bad extension parameters).
      if (debug) console.error(`${path}: connect failed: ${err.message}`);
      done({ failed: err });
    });
    client.on('connect', (connection) => {
      const timer = setTimeout(() => {
        console.error(`${path}: no close after ${CASE_TIMEOUT_MS} ms, dropping the connection`);
        connection.drop();
      }, CASE_TIMEOUT_MS);
      connection.on('error', (err) => {
        if (debug) console.error(`${path}: connection error: ${err.message}`);
      });
      connection.on('close', () => {
        clearTimeout(timer);
        done({});
      });
      onConnection(connection);
    });
    client.connect(`${baseUrl}${path}`);
  });
}

async function getCaseCount() {
  let count = NaN;
  const result = await session('/getCaseCount', (connection) => {
    connection.on('message', (message) => {
      if (message.type === 'utf8') count = parseInt(message.utf8Data, 10);
    });
  });
  if (result.failed) throw new Error(`cannot reach the fuzzing server at ${baseUrl}: ${result.failed.message}`);
  if (!Number.isInteger(count)) throw new Error('the fuzzing server did not send a case count');
  return count;
}

function runCase(n) {
  const q = `case=${n}&agent=${encodeURIComponent(agent)}`;
  return session(`/runCase?${q}`, (connection) => {
    connection.on('message', (message) => {
      if (message.type === 'utf8') connection.sendUTF(message.utf8Data);
      else connection.sendBytes(message.binaryData);
    });
  });
}

async function updateReports() {
  const result = await session(`/updateReports?agent=${encodeURIComponent(agent)}`, () => {});
  if (result.failed) throw new Error(`updateReports failed: ${result.failed.message}`);
}

async function main() {
  const count = await getCaseCount();
  console.log(`${agent}: running ${count} cases against ${baseUrl}`);
  for (let n = 1; n <= count; n++) {
    if (debug) console.error(`case ${n}/${count}`);
    await runCase(n);
  }
  await updateReports();
  console.log(`${agent}: done, reports updated`);
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
