/**
 * RFC 6455 §4 opening handshake. Server side (§4.2): our server answering raw upgrade requests.
 * Client side (§4.1): our client's request as a raw server reads it, and its validation of the
 * raw server's answers.
 */
import { randomBytes } from 'node:crypto';
import {
  OP,
  acceptFor,
  cleanup,
  connectOurClient,
  openPair,
  rawConnect,
  startOurServer,
  startRawServer,
  switchingProtocols,
  upgradeRequest,
  type ServerRequest,
} from './helpers';

afterEach(cleanup);

const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const SAMPLE_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** Sends `request` to a fresh server of ours and returns everything it answered before hanging up. */
async function refusal(request: string): Promise<{ response: string; accepted: number; upgradeErrors: number }> {
  const server = await startOurServer();
  const peer = await rawConnect(server.port);
  peer.write(Buffer.from(request, 'latin1'));
  const response = await peer.readAll();
  return { response, accepted: server.accepted.length, upgradeErrors: server.upgradeErrors.length };
}

function refused(status: string, reason: string, extra = ''): string {
  return `HTTP/1.1 ${status}\r\nConnection: close\r\nX-WebSocket-Reject-Reason: ${reason}\r\n${extra}\r\n`;
}

/** A raw server answering every upgrade with `answer(key)`; our client's outcome. */
async function clientAgainst(answer: (key: string) => string, protocols?: string[]) {
  const server = await startRawServer((request, peer) => peer.write(Buffer.from(answer(request.key), 'latin1')));
  const outcome = await connectOurClient(server.port, {}, protocols);
  return { ...outcome, server };
}

describe('§4 opening handshake', () => {
  describe('§4.2 server side', () => {
    test('server receives a valid upgrade request and answers exactly 101 with the RFC sample Sec-WebSocket-Accept', async () => {
      const server = await startOurServer();
      const peer = await rawConnect(server.port);
      peer.write(Buffer.from(upgradeRequest(), 'latin1'));
      expect(await peer.readHead()).toBe(
        'HTTP/1.1 101 Switching Protocols\r\n' +
          'Upgrade: websocket\r\n' +
          'Connection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${SAMPLE_ACCEPT}\r\n\r\n`,
      );
      expect(server.accepted).toHaveLength(1);
    });

    test('server receives header names and values in other cases and a Connection token list, and accepts', async () => {
      const server = await startOurServer();
      const peer = await rawConnect(server.port);
      const key = randomBytes(16).toString('base64');
      peer.write(
        Buffer.from(
          'GET /chat?x=1 HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n' +
            `sec-websocket-key: ${key}\r\nsec-websocket-version: 13\r\n\r\n`,
          'latin1',
        ),
      );
      expect(await peer.readHead()).toBe(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`,
      );
    });

    test('server receives an Origin and subprotocols and answers with the chosen protocol and origin', async () => {
      let seen: { origin: string; protocols: string[]; key: string; version: number } | undefined;
      const server = await startOurServer({}, (request: ServerRequest) => {
        seen = { origin: request.origin, protocols: [...request.requestedProtocols], key: request.key, version: request.webSocketVersion };
        request.accept('chat.v2', request.origin);
      });
      const peer = await rawConnect(server.port);
      peer.write(
        Buffer.from(upgradeRequest({ headers: { Origin: 'http://example.com', 'Sec-WebSocket-Protocol': 'chat.v1, Chat.V2' } }), 'latin1'),
      );
      expect(await peer.readHead()).toBe(
        'HTTP/1.1 101 Switching Protocols\r\n' +
          'Upgrade: websocket\r\n' +
          'Connection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${SAMPLE_ACCEPT}\r\n` +
          'Sec-WebSocket-Protocol: Chat.V2\r\n' +
          'Origin: http://example.com\r\n\r\n',
      );
      expect(seen).toEqual({ origin: 'http://example.com', protocols: ['chat.v1', 'chat.v2'], key: SAMPLE_KEY, version: 13 });
    });

    test('server receives an extension offer it does not support and answers 101 without Sec-WebSocket-Extensions', async () => {
      const server = await startOurServer();
      const peer = await rawConnect(server.port);
      peer.write(Buffer.from(upgradeRequest({ headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits, x-unknown' } }), 'latin1'));
      // RFC 6455 §9.1: the server answers only with extensions it accepts (none here: deflate is off).
      expect(await peer.readHead()).toBe(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${SAMPLE_ACCEPT}\r\n\r\n`,
      );
    });

    test('server receives version 8 (hybi-08, still supported as WebSocket-Node does) and accepts', async () => {
      const server = await startOurServer();
      const peer = await rawConnect(server.port);
      peer.write(Buffer.from(upgradeRequest({ headers: { 'Sec-WebSocket-Version': '8' } }), 'latin1'));
      expect((await peer.readHead()).split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
    });

    test('server receives a request without Sec-WebSocket-Key and refuses with 400', async () => {
      const result = await refusal(upgradeRequest({ headers: { 'Sec-WebSocket-Key': null } }));
      expect(result.response).toBe(refused('400 Bad Request', 'Client must provide a value for Sec-WebSocket-Key.'));
      expect(result.accepted).toBe(0);
      expect(result.upgradeErrors).toBe(1);
    });

    for (const [name, key] of [
      ['too short', 'abc'],
      ['15 bytes', randomBytes(15).toString('base64')],
      ['17 bytes', randomBytes(17).toString('base64')],
      ['not base64', '!!!!!!!!!!!!!!!!!!!!!!=='],
      ['16 bytes without padding', randomBytes(16).toString('base64').replace(/=+$/, '')],
    ] as const) {
      test(`server receives a Sec-WebSocket-Key that is ${name} and refuses with 400`, async () => {
        const result = await refusal(upgradeRequest({ headers: { 'Sec-WebSocket-Key': key } }));
        expect(result.response).toBe(refused('400 Bad Request', 'Sec-WebSocket-Key must be the base64 encoding of 16 bytes.'));
        expect(result.accepted).toBe(0);
      });
    }

    test('server receives a request without Sec-WebSocket-Version and refuses with 400', async () => {
      const result = await refusal(upgradeRequest({ headers: { 'Sec-WebSocket-Version': null } }));
      expect(result.response).toBe(refused('400 Bad Request', 'Client must provide a value for Sec-WebSocket-Version.'));
    });

    for (const version of ['7', '12', '14']) {
      test(`server receives Sec-WebSocket-Version ${version} and refuses with 426 naming version 13`, async () => {
        const result = await refusal(upgradeRequest({ headers: { 'Sec-WebSocket-Version': version } }));
        // RFC 6455 §4.4: the answer carries the versions the server supports.
        expect(result.response).toBe(
          refused(
            '426 Upgrade Required',
            `Unsupported websocket client version: ${version}Only versions 8 and 13 are supported.`,
            'Sec-WebSocket-Version: 13\r\n',
          ),
        );
        expect(result.accepted).toBe(0);
      });
    }

    test('server receives a POST upgrade and refuses with 405', async () => {
      const result = await refusal(upgradeRequest({ method: 'POST' }));
      expect(result.response).toBe(refused('405 Method Not Allowed', 'WebSocket upgrades must use the GET method.', 'Allow: GET\r\n'));
      expect(result.accepted).toBe(0);
    });

    test('server receives an HTTP/1.0 upgrade and refuses with 400', async () => {
      const result = await refusal(upgradeRequest({ httpVersion: '1.0' }));
      expect(result.response).toBe(refused('400 Bad Request', 'WebSocket upgrades require HTTP/1.1 or later.'));
    });

    test('server receives Upgrade: h2c and refuses with 400', async () => {
      const result = await refusal(upgradeRequest({ headers: { Upgrade: 'h2c' } }));
      expect(result.response).toBe(refused('400 Bad Request', 'The Upgrade header must contain "websocket".'));
    });

    test('server receives a request without Host and refuses with 400', async () => {
      const result = await refusal(upgradeRequest({ headers: { Host: null } }));
      expect(result.response).toBe(refused('400 Bad Request', 'Client must provide a Host header.'));
      expect(result.accepted).toBe(0);
    });

    test('server receives a request whose Connection header lacks "upgrade" and does not upgrade', async () => {
      // Node's HTTP parser does not treat this as an upgrade; our server must never see it nor answer 101.
      const result = await refusal(upgradeRequest({ headers: { Connection: 'keep-alive' } }));
      expect(result.response).toMatch(/^HTTP\/1\.1 400 /);
      expect(result.accepted).toBe(0);
    });

    test('server receives frames in the same TCP write as the upgrade request and processes them after the 101', async () => {
      const masked = Buffer.from('818537fa213d7f9f4d5158', 'hex');
      const { peer, log } = await openPair('server', { withHandshake: masked });
      await peer.expectFrame(OP.TEXT, 'Hello');
      expect(log.texts).toEqual(['Hello']);
    });
  });

  describe('§4.1 client side', () => {
    test('client sends GET with Host, Upgrade, Connection, version 13 and a fresh 16-byte key per connection', async () => {
      const server = await startRawServer((request, peer) => peer.write(Buffer.from(switchingProtocols(request.key), 'latin1')));
      const first = await connectOurClient(server.port);
      const second = await connectOurClient(server.port);
      expect(first.conn).toBeDefined();
      expect(second.conn).toBeDefined();
      for (const request of server.requests) {
        expect(request.requestLine).toBe('GET / HTTP/1.1');
        expect(request.headers['host']).toBe(`127.0.0.1:${server.port}`);
        expect(request.headers['upgrade']).toBe('websocket');
        expect(request.headers['connection']).toBe('Upgrade');
        expect(request.headers['sec-websocket-version']).toBe('13');
        expect(request.key).toMatch(/^[A-Za-z0-9+/]{22}==$/);
        expect(Buffer.from(request.key, 'base64')).toHaveLength(16);
      }
      expect(server.requests[0]!.key).not.toBe(server.requests[1]!.key);
    });

    test('client receives a valid 101 with header names and values in other cases and a Connection token list, and connects', async () => {
      const { conn, error } = await clientAgainst(
        (key) =>
          'HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n' +
          `sec-websocket-accept: ${acceptFor(key)}\r\n\r\n`,
      );
      expect(error).toBeUndefined();
      expect(conn!.connected).toBe(true);
    });

    test('client receives a Sec-WebSocket-Accept that does not match its key and fails', async () => {
      const { conn, error, client } = await clientAgainst(() => switchingProtocols(SAMPLE_KEY));
      expect(conn).toBeUndefined();
      const expected = acceptFor(client.base64nonce!);
      expect(error!.message).toBe(`Sec-WebSocket-Accept header from server didn't match expected value of ${expected}`);
    });

    test('client receives a 101 without Sec-WebSocket-Accept and fails', async () => {
      const { conn, error } = await clientAgainst(() => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      expect(conn).toBeUndefined();
      expect(error!.message).toBe('Expected Sec-WebSocket-Accept header from server');
    });

    test('client receives a 101 with Upgrade other than websocket and fails', async () => {
      const { conn, error } = await clientAgainst(
        (key) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`,
      );
      expect(conn).toBeUndefined();
      expect(error!.message).toBe('Expected an Upgrade: websocket header from the server');
    });

    test('client receives a 101 whose Connection header lacks the upgrade token and fails', async () => {
      const { conn, error } = await clientAgainst(
        (key) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`,
      );
      expect(conn).toBeUndefined();
      // Node reports such a 101 as a plain response, not an upgrade; either message is a refusal.
      expect(error!.message).toMatch(/^(Expected a Connection: Upgrade header from the server|Server responded with a non-101 status: 101 )/);
    });

    test('client receives a 403 and fails with the status and headers in the message', async () => {
      const { conn, error } = await clientAgainst(() => 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nX-Why: test\r\n\r\n');
      expect(conn).toBeUndefined();
      expect(error!.message).toBe('Server responded with a non-101 status: 403 Forbidden\nResponse Headers Follow:\ncontent-length: 0\nx-why: test\n');
    });

    test('client receives a 426 naming the supported versions and fails', async () => {
      const { conn, error } = await clientAgainst(
        () => 'HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n',
      );
      expect(conn).toBeUndefined();
      expect(error!.message).toBe(
        'Server responded with a non-101 status: 426 Upgrade Required\nResponse Headers Follow:\nsec-websocket-version: 13\ncontent-length: 0\n',
      );
    });

    test('client receives no Sec-WebSocket-Protocol after requesting one and fails', async () => {
      const { conn, error } = await clientAgainst((key) => switchingProtocols(key), ['chat']);
      expect(conn).toBeUndefined();
      expect(error!.message).toBe('Expected a Sec-WebSocket-Protocol header.');
    });

    test('client receives a Sec-WebSocket-Protocol it did not request and fails', async () => {
      const { conn, error } = await clientAgainst((key) => switchingProtocols(key, 'Sec-WebSocket-Protocol: superchat\r\n'), ['chat']);
      expect(conn).toBeUndefined();
      expect(error!.message).toBe('Server did not respond with a requested protocol.');
    });

    test('client receives a Sec-WebSocket-Protocol after requesting none and ignores it (documented compat; RFC 6455 §4.1 says fail)', async () => {
      const { conn, error } = await clientAgainst((key) => switchingProtocols(key, 'Sec-WebSocket-Protocol: chat\r\n'));
      expect(error).toBeUndefined();
      expect(conn!.connected).toBe(true);
    });

    test('client receives the Sec-WebSocket-Protocol it requested and connects with it', async () => {
      const { conn, error, server } = await clientAgainst((key) => switchingProtocols(key, 'Sec-WebSocket-Protocol: chat\r\n'), ['soap', 'chat']);
      expect(error).toBeUndefined();
      expect(conn!.protocol).toBe('chat');
      expect(server.requests[0]!.headers['sec-websocket-protocol']).toBe('soap, chat');
    });

    test('client receives a Sec-WebSocket-Extensions it did not offer and fails', async () => {
      // RFC 6455 §4.1: an extension "not present in the client's handshake" fails the connection.
      const { conn, error } = await clientAgainst((key) => switchingProtocols(key, 'Sec-WebSocket-Extensions: permessage-deflate\r\n'));
      expect(conn).toBeUndefined();
      expect(error!.message).toBe('Server responded with an extension that was not offered');
    });

    test('client receives frames in the same TCP write as the 101 and processes them', async () => {
      const { peer, log } = await openPair('client', { withHandshake: Buffer.from('810548656c6c6f', 'hex') });
      await peer.expectFrame(OP.TEXT, 'Hello');
      expect(log.texts).toEqual(['Hello']);
    });
  });
});
