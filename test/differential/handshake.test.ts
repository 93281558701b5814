/**
 * Differential tests of the opening handshake: the same upgrade requests go to a server on upstream
 * websocket@1.0.35 and to the same server on ours; status line, header lines (in order), the bytes
 * that follow and the server-side events must be equal, except for the deliberate fixes of
 * docs/compat.md, whose tests carry the compat entry's name in their title and pin both behaviours.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as path from 'node:path';
import {
  OP,
  SAMPLE_ACCEPT,
  closeFrame,
  comparable,
  describeUrl,
  eventsOf,
  handshake,
  runBoth,
  runScenario,
  text,
  type HandshakeOptions,
  type Outcome,
  type Scenario,
  type ServerProgram,
  type WsRequest,
} from './harness';

const ROOT = path.resolve(__dirname, '..', '..');

/** Sends one upgrade request; if it is accepted, closes the connection cleanly. */
function request(options: HandshakeOptions = {}): Scenario {
  return async ({ client }) => {
    client.send(handshake(options));
    await client.waitForHead();
    if (client.response.statusLine?.includes(' 101 ') === true) {
      client.send(closeFrame(1000));
      await client.waitForCloseFrame();
    }
    await client.waitForEnd();
  };
}

function expectSame(result: Record<'upstream' | 'ours', Outcome>): void {
  expect(result.upstream.statusLine).not.toBeNull();
  expect(comparable(result.ours)).toEqual(comparable(result.upstream));
}

const accepting: ServerProgram = {};

/** A handler that only rejects, with the given arguments. */
function rejecting(...args: unknown[]): ServerProgram {
  return {
    onRequest: (req, record) => {
      try {
        (req.reject as (...a: unknown[]) => void)(...args);
      } catch (error) {
        record({ ev: 'rejectThrew', message: (error as Error).message });
      }
      return undefined;
    },
  };
}

/** A handler that accepts with the given arguments and records what accept() threw. */
function acceptingWith(protocol: (req: WsRequest) => string | null | undefined, origin: (req: WsRequest) => unknown, cookies?: unknown): ServerProgram {
  return {
    onRequest: (req, record) => {
      try {
        const connection =
          cookies === undefined ? req.accept(protocol(req), origin(req)) : req.accept(protocol(req), origin(req), cookies as unknown[]);
        record({
          ev: 'accepted',
          protocol: connection.protocol ?? null,
          webSocketVersion: (connection as unknown as { webSocketVersion: unknown }).webSocketVersion,
          remoteAddress: (connection as unknown as { remoteAddress: unknown }).remoteAddress,
        });
        return connection;
      } catch (error) {
        record({ ev: 'acceptError', message: (error as Error).message });
        return undefined;
      }
    },
  };
}

// -----------------------------------------------------------------------------------------------

describe('refused handshakes (must match)', () => {
  const cases: Array<[string, HandshakeOptions, string]> = [
    ['missing Host', { host: null }, 'HTTP/1.1 400 Bad Request'],
    ['empty Host', { host: '' }, 'HTTP/1.1 400 Bad Request'],
    ['missing Sec-WebSocket-Key', { key: null }, 'HTTP/1.1 400 Bad Request'],
    ['empty Sec-WebSocket-Key', { key: '' }, 'HTTP/1.1 400 Bad Request'],
    ['missing Sec-WebSocket-Version', { version: null }, 'HTTP/1.1 400 Bad Request'],
    ['non-numeric Sec-WebSocket-Version', { version: 'abc' }, 'HTTP/1.1 400 Bad Request'],
    ['Sec-WebSocket-Version 0', { version: '0' }, 'HTTP/1.1 400 Bad Request'],
    ['unsupported Sec-WebSocket-Version 7', { version: '7' }, 'HTTP/1.1 426 Upgrade Required'],
    ['unsupported Sec-WebSocket-Version 14', { version: '14' }, 'HTTP/1.1 426 Upgrade Required'],
    // Upstream's own checks come first: a POST without a key is refused for the key, on both.
    ['POST without a key', { method: 'POST', key: null }, 'HTTP/1.1 400 Bad Request'],
    ['HTTP/1.0 with version 7', { httpVersion: '1.0', version: '7' }, 'HTTP/1.1 426 Upgrade Required'],
    ['h2c upgrade (no WebSocket headers)', { upgrade: 'h2c', key: null, version: null }, 'HTTP/1.1 400 Bad Request'],
  ];

  test.each(cases)('%s', async (_name, options, statusLine) => {
    const result = await runBoth(accepting, request(options));
    expect(result.upstream.statusLine).toBe(statusLine);
    expect(eventsOf(result.upstream, 'upgradeError')).toHaveLength(1);
    expectSame(result);
  });

  test('426 carries Sec-WebSocket-Version: 13 and the reason', async () => {
    const result = await runBoth(accepting, request({ version: '7' }));
    expect(result.upstream.headers).toEqual([
      'Connection: close',
      'X-WebSocket-Reject-Reason: Unsupported websocket client version: 7Only versions 8 and 13 are supported.',
      'Sec-WebSocket-Version: 13',
    ]);
    expectSame(result);
  });

  test('no request listener: 404', async () => {
    const result = await runBoth({ noRequestListener: true }, request());
    expect(result.upstream.statusLine).toBe('HTTP/1.1 404 Not Found');
    expect(result.upstream.headers).toEqual(['Connection: close', 'X-WebSocket-Reject-Reason: No handler is configured to accept the connection.']);
    expectSame(result);
  });
});

describe('accepted handshakes (must match)', () => {
  test('plain accept: 101 headers in order', async () => {
    const result = await runBoth(accepting, request());
    expect(result.upstream.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(result.upstream.headers).toEqual(['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${SAMPLE_ACCEPT}`]);
    expectSame(result);
  });

  test('protocol (client case kept), origin and cookies: header order', async () => {
    const cookies = [
      {
        name: 'a',
        value: 'b',
        path: '/',
        domain: 'Ex.COM',
        expires: new Date(0),
        maxage: 10.6,
        secure: true,
        httponly: true,
      },
      { name: 'b c', value: 'x;y' },
      { name: 'q', value: '"quoted"' },
    ];
    const program = acceptingWith((req) => req.requestedProtocols?.[1], (req) => req.origin, cookies);
    const result = await runBoth(program, request({ protocol: 'Chat, SuperChat', origin: 'http://Example.com' }));
    expect(result.upstream.headers).toEqual([
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${SAMPLE_ACCEPT}`,
      'Sec-WebSocket-Protocol: SuperChat',
      'Origin: http://Example.com',
      'Set-Cookie: a=b;Path=/;Domain=ex.com;Expires=Thu, 01 Jan 1970 00:00:00 GMT;Max-Age=11;Secure;HttpOnly',
      'Set-Cookie: bc=xy',
      'Set-Cookie: q="quoted"',
    ]);
    expectSame(result);
  });

  test('version 8 answers Sec-WebSocket-Origin', async () => {
    const program = acceptingWith(() => null, (req) => req.origin);
    const result = await runBoth(
      program,
      request({ version: '8', headers: [['Sec-WebSocket-Origin', 'http://eight.example']] }),
    );
    expect(result.upstream.headers).toContain('Sec-WebSocket-Origin: http://eight.example');
    expectSame(result);
  });

  test('origin with CR/LF is stripped', async () => {
    const program = acceptingWith(() => undefined, () => 'http://a\r\nX-Injected: 1');
    const result = await runBoth(program, request());
    expect(result.upstream.headers).toContain('Origin: http://aX-Injected: 1');
    expectSame(result);
  });

  test('request properties: resource, query, protocols, extensions, cookies, X-Forwarded-For', async () => {
    const program: ServerProgram = { recordRequestProperties: true };
    const result = await runBoth(
      program,
      request({
        path: '/chat/room?x=1&y=two&x=3#frag',
        protocol: 'Chat, superchat,  v2.json',
        origin: 'http://origin.example',
        headers: [
          ['Sec-WebSocket-Extensions', 'permessage-deflate; client_max_window_bits, X-Foo;a=1;b'],
          ['Cookie', 'a=1; b="two%20x"; c'],
          ['X-Forwarded-For', '1.2.3.4, 5.6.7.8'],
        ],
      }),
    );
    const props = eventsOf(result.upstream, 'requestProperties');
    expect(props).toHaveLength(1);
    expect(props[0]?.['remoteAddress']).toBe('1.2.3.4');
    expectSame(result);
  });

  test('request properties with parseCookies/parseExtensions off and ignoreXForwardedFor', async () => {
    const program: ServerProgram = {
      recordRequestProperties: true,
      config: { parseCookies: false, parseExtensions: false, ignoreXForwardedFor: true },
    };
    const result = await runBoth(
      program,
      request({ headers: [['Sec-WebSocket-Extensions', 'x'], ['Cookie', 'a=1'], ['X-Forwarded-For', '1.2.3.4']] }),
    );
    expect(eventsOf(result.upstream, 'requestProperties')[0]?.['remoteAddress']).toBe('127.0.0.1');
    expectSame(result);
  });

  test.each([
    '/',
    '/chat',
    '/chat?',
    '/chat?a=1&b=&c&a=2',
    '/chat?q=%20x%2Fy+z',
    '/p%20q/r',
    '/chat#frag',
    '/chat?x=1#frag',
    '//double/slash?x',
    '/a/../b',
    '/a|b{c}^`d',
    '/x?y={"a":[1]}',
    '/a\\b?c\\d',
    "/it's",
    'http://proxy.example:8080/abs?x=1',
  ])('resourceURL of request target %s', async (target) => {
    const program: ServerProgram = {
      onRequest: (req, record) => {
        record({ ev: 'url', resource: req.resource, resourceURL: JSON.parse(JSON.stringify(describeUrl(req.resourceURL))) });
        req.reject(404);
        return undefined;
      },
    };
    const result = await runBoth(program, request({ path: target }));
    expect(eventsOf(result.upstream, 'url')).toHaveLength(1);
    expectSame(result);
  });

  test('malformed cookie escape: 400 "URI malformed"', async () => {
    const result = await runBoth(accepting, request({ headers: [['Cookie', 'a=%E0%A4%A']] }));
    expect(result.upstream.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expectSame(result);
  });

  test('autoAcceptConnections accepts the first protocol and echoes the origin', async () => {
    const program: ServerProgram = { noRequestListener: true, config: { autoAcceptConnections: true } };
    const result = await runBoth(program, request({ protocol: 'First, second', origin: 'http://auto' }));
    expect(result.upstream.headers).toEqual([
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${SAMPLE_ACCEPT}`,
      'Sec-WebSocket-Protocol: First',
      'Origin: http://auto',
    ]);
    expectSame(result);
  });

  test('Connection: keep-alive, Upgrade is accepted', async () => {
    const result = await runBoth(accepting, request({ connection: 'keep-alive, Upgrade' }));
    expect(result.upstream.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    expectSame(result);
  });
});

describe('accept() validation errors (must match)', () => {
  const cases: Array<[string, ServerProgram, HandshakeOptions]> = [
    ['protocol not requested', acceptingWith(() => 'other', () => undefined), { protocol: 'chat' }],
    ['protocol when none was requested', acceptingWith(() => 'chat', () => undefined), {}],
    ['cookies not an array', acceptingWith(() => null, () => undefined, { name: 'a' }), {}],
    ['cookie without a value', acceptingWith(() => null, () => undefined, [{ name: 'a', value: '' }]), {}],
    ['same cookie twice', acceptingWith(() => null, () => undefined, [{ name: 'a', value: '1' }, { name: 'a', value: '2' }]), {}],
    ['illegal cookie name', acceptingWith(() => null, () => undefined, [{ name: 'a(b', value: '1' }]), {}],
    ['illegal cookie value', acceptingWith(() => null, () => undefined, [{ name: 'a', value: 'x\\y' }]), {}],
    ['cookie maxage not a number', acceptingWith(() => null, () => undefined, [{ name: 'a', value: '1', maxage: 'soon' }]), {}],
    ['cookie secure not boolean', acceptingWith(() => null, () => undefined, [{ name: 'a', value: '1', secure: 'yes' }]), {}],
  ];

  test.each(cases)('%s: 500 and the same error', async (_name, program, options) => {
    const result = await runBoth(program, request(options));
    expect(result.upstream.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(eventsOf(result.upstream, 'acceptError')).toHaveLength(1);
    expectSame(result);
  });

  test('accept() after reject() throws the same error', async () => {
    const program: ServerProgram = {
      onRequest: (req, record) => {
        req.reject(403);
        try {
          req.accept(null, null);
        } catch (error) {
          record({ ev: 'acceptError', message: (error as Error).message });
        }
        return undefined;
      },
    };
    const result = await runBoth(program, request());
    expect(eventsOf(result.upstream, 'acceptError')).toEqual([
      { ev: 'acceptError', message: 'WebSocketRequest may only be accepted or rejected one time.' },
    ]);
    expectSame(result);
  });
});

describe('reject() (must match)', () => {
  const cases: Array<[string, unknown[], string]> = [
    ['no arguments: 403', [], 'HTTP/1.1 403 Forbidden'],
    ['a string status becomes 403', ['404'], 'HTTP/1.1 403 Forbidden'],
    ['404 with a reason', [404, 'Nope'], 'HTTP/1.1 404 Not Found'],
    ['reason and extra headers with CR/LF stripped', [401, 'bad\r\nX-Evil: 1', { 'X-Extra\r\n': 'a\r\nb', 'X-Num': 5, 'WWW-Authenticate': 'Basic' }], 'HTTP/1.1 401 Unauthorized'],
    ['407 keeps upstream wording', [407], 'HTTP/1.1 407 Proxy Authorization Required'],
    ['413 keeps upstream wording', [413], 'HTTP/1.1 413 Request Entity Too Long'],
    ['414', [414], 'HTTP/1.1 414 Request-URI Too Long'],
    ['416', [416], 'HTTP/1.1 416 Requested Range Not Satisfiable'],
    ['426', [426], 'HTTP/1.1 426 Upgrade Required'],
    ['503', [503, 'busy'], 'HTTP/1.1 503 Service Unavailable'],
    ['505', [505], 'HTTP/1.1 505 HTTP Version Not Supported'],
  ];

  test.each(cases)('%s', async (_name, args, statusLine) => {
    const result = await runBoth(rejecting(...args), request());
    expect(result.upstream.statusLine).toBe(statusLine);
    expectSame(result);
  });

  test('reject() writes the exact bytes', async () => {
    const result = await runBoth(rejecting(401, 'bad\r\nX-Evil: 1', { 'X-Extra\r\n': 'a\r\nb', 'X-Num': 5 }), request());
    expect(result.upstream.headers).toEqual([
      'Connection: close',
      'X-WebSocket-Reject-Reason: badX-Evil: 1',
      'X-Extra: ab',
      'X-Num: 5',
    ]);
    expect(result.upstream.frames).toEqual([]);
    expect(result.upstream.trailing).toBe('');
    expectSame(result);
  });
});

// -----------------------------------------------------------------------------------------------
// Deliberate differences (docs/compat.md)

describe('deliberate differences (docs/compat.md)', () => {
  test('compat "head bytes": a frame sent with the upgrade request is processed (upstream loses it)', async () => {
    const result = await runBoth(accepting, async ({ client }) => {
      client.send(handshake(), text('early'));
      await client.waitForHead();
      await client.quiet(300);
      client.send(closeFrame(1000));
      await client.waitForCloseFrame();
      await client.waitForEnd();
    });
    expect(result.upstream.frames.map((f) => [f.opcode, f.text ?? f.closeCode])).toEqual([[OP.CLOSE, 1000]]);
    expect(eventsOf(result.upstream, 'message')).toEqual([]);
    expect(result.ours.frames.map((f) => [f.opcode, f.text ?? f.closeCode])).toEqual([
      [OP.TEXT, 'early'],
      [OP.CLOSE, 1000],
    ]);
    expect(eventsOf(result.ours, 'message')).toEqual([{ ev: 'message', type: 'utf8', data: 'early' }]);
    expect(result.ours.headers).toEqual(result.upstream.headers);
  });

  test('compat "accept case-insensitive": accept("Chat") works when the client asked for "Chat" (upstream throws)', async () => {
    const program = acceptingWith(() => 'Chat', (req) => req.origin);
    const result = await runBoth(program, request({ protocol: 'Chat' }));
    expect(result.upstream.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(result.upstream.headers).toEqual(['Connection: close']);
    expect(eventsOf(result.upstream, 'acceptError')).toEqual([
      { ev: 'acceptError', message: 'Specified protocol was not requested by the client.' },
    ]);
    expect(result.ours.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(result.ours.headers).toEqual([
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${SAMPLE_ACCEPT}`,
      'Sec-WebSocket-Protocol: Chat',
    ]);
    expect(eventsOf(result.ours, 'acceptError')).toEqual([]);
    expect(eventsOf(result.ours, 'accepted')).toEqual([
      { ev: 'accepted', protocol: 'Chat', webSocketVersion: 13, remoteAddress: '127.0.0.1' },
    ]);
  });

  test('compat "accept case-insensitive": accept("chat") (lower case, as upstream requires) matches', async () => {
    const program = acceptingWith(() => 'chat', (req) => req.origin);
    const result = await runBoth(program, request({ protocol: 'Chat' }));
    expect(result.upstream.headers).toContain('Sec-WebSocket-Protocol: Chat');
    expectSame(result);
  });

  test.each([
    [429, 'Too Many Requests'],
    [405, 'Method Not Allowed'],
    [418, "I'm a Teapot"],
    [202, 'Accepted'],
    [451, 'Unavailable For Legal Reasons'],
  ])('compat "reject reason phrase": reject(%i) writes a reason phrase (upstream "undefined")', async (status, phrase) => {
    const result = await runBoth(rejecting(status, 'why'), request());
    expect(result.upstream.statusLine).toBe(`HTTP/1.1 ${status} undefined`);
    expect(result.ours.statusLine).toBe(`HTTP/1.1 ${status} ${phrase}`);
    expect(result.ours.headers).toEqual(result.upstream.headers);
    expect(result.ours.events).toEqual(result.upstream.events);
  });

  test('compat "subprotocol char in error": the illegal character is named (upstream always "\\u0000")', async () => {
    const result = await runBoth(accepting, request({ protocol: 'chat/1' }));
    expect(result.upstream.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(result.ours.statusLine).toBe(result.upstream.statusLine);
    expect(result.ours.headers).toEqual(result.upstream.headers);
    expect(eventsOf(result.upstream, 'acceptError')).toEqual([{ ev: 'acceptError', message: 'Illegal character "\u0000" in subprotocol.' }]);
    expect(eventsOf(result.ours, 'acceptError')).toEqual([{ ev: 'acceptError', message: 'Illegal character "/" in subprotocol.' }]);
  });

  const hardening: Array<[string, HandshakeOptions, string, string[]]> = [
    [
      'POST is refused with 405 + Allow: GET',
      { method: 'POST' },
      'HTTP/1.1 405 Method Not Allowed',
      ['Connection: close', 'X-WebSocket-Reject-Reason: WebSocket upgrades must use the GET method.', 'Allow: GET'],
    ],
    [
      'HTTP/1.0 is refused with 400',
      { httpVersion: '1.0' },
      'HTTP/1.1 400 Bad Request',
      ['Connection: close', 'X-WebSocket-Reject-Reason: WebSocket upgrades require HTTP/1.1 or later.'],
    ],
    [
      'a key that is not base64 of 16 bytes is refused with 400',
      { key: 'abc' },
      'HTTP/1.1 400 Bad Request',
      ['Connection: close', 'X-WebSocket-Reject-Reason: Sec-WebSocket-Key must be the base64 encoding of 16 bytes.'],
    ],
    [
      'Upgrade other than websocket is refused with 400',
      { upgrade: 'foo' },
      'HTTP/1.1 400 Bad Request',
      ['Connection: close', 'X-WebSocket-Reject-Reason: The Upgrade header must contain "websocket".'],
    ],
  ];

  test.each(hardening)('compat "handshake hardening": %s (upstream upgrades it)', async (_name, options, statusLine, headers) => {
    const result = await runBoth(accepting, request(options));
    expect(result.upstream.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(eventsOf(result.upstream, 'connect')).toHaveLength(1);
    expect(eventsOf(result.upstream, 'upgradeError')).toEqual([]);
    expect(result.ours.statusLine).toBe(statusLine);
    expect(result.ours.headers).toEqual(headers);
    expect(result.ours.frames).toEqual([]);
    const upgradeErrors = eventsOf(result.ours, 'upgradeError');
    expect(upgradeErrors).toHaveLength(1);
    expect(`X-WebSocket-Reject-Reason: ${String(upgradeErrors[0]?.['message'])}`).toBe(headers[1]);
    expect(eventsOf(result.ours, 'request')).toEqual([]);
  });

  test('compat "autoAccept malformed protocol": ours answers 500 and reports upgradeError', async () => {
    const program: ServerProgram = { noRequestListener: true, config: { autoAcceptConnections: true } };
    const outcome = await runScenario('ours', program, request({ protocol: 'chat/1' }));
    expect(outcome.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(outcome.headers).toEqual(['Connection: close']);
    expect(outcome.events).toEqual([{ ev: 'upgradeError', message: 'Illegal character "/" in subprotocol.' }]);
  });

  test('compat "autoAccept malformed protocol": upstream throws out of the upgrade handler and crashes the process', () => {
    const child = runUpstreamChild("{ autoAcceptConnections: true }", '', handshake({ protocol: 'chat/1' }));
    expect(child.stdout).not.toContain('NO CRASH');
    expect(child.status).toBe(1);
    expect(child.stderr).toContain('Illegal character "\u0000" in subprotocol.');
    expect(child.stderr).toContain('WebSocketServer.handleUpgrade');
  });

  test('compat "Early socket errors": a client reset before accept() ends in close 1006 (upstream crashes on ECONNRESET)', async () => {
    const acceptLater: ServerProgram = {
      onRequest: (req, record) => {
        setTimeout(() => {
          try {
            const connection = req.accept(null, null);
            connection.on('close', (code: unknown, description: unknown) => record({ ev: 'close', code, description }));
          } catch (error) {
            record({ ev: 'acceptError', message: (error as Error).message });
          }
        }, 200);
        return undefined;
      },
    };
    const outcome = await runScenario('ours', acceptLater, async ({ client }) => {
      client.send(handshake());
      await client.quiet(50);
      client.socket.resetAndDestroy();
      await client.quiet(400);
    });
    expect(outcome.statusLine).toBeNull();
    expect(outcome.events.filter((e) => e.ev !== 'request')).toEqual([
      { ev: 'connect' },
      { ev: 'serverClose', code: 1006, description: 'TCP connection lost before handshake completed.' },
      { ev: 'close', code: 1006, description: 'TCP connection lost before handshake completed.' },
    ]);

    const child = runUpstreamChild(
      '{}',
      "ws.on('request', (r) => setTimeout(() => r.accept(null, null), 200));",
      handshake(),
      'setTimeout(() => client.resetAndDestroy(), 50);',
    );
    expect(child.stdout).not.toContain('NO CRASH');
    expect(child.status).toBe(1);
    expect(child.stderr).toContain('ECONNRESET');
  });

  test('compat "A request handler that throws": 500 + upgradeError (upstream crashes the process)', async () => {
    const program: ServerProgram = {
      onRequest: () => {
        throw new Error('boom');
      },
    };
    const outcome = await runScenario('ours', program, request());
    expect(outcome.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(outcome.headers).toEqual(['Connection: close']);
    expect(eventsOf(outcome, 'upgradeError')).toEqual([{ ev: 'upgradeError', message: 'boom' }]);

    const child = runUpstreamChild('{}', "ws.on('request', () => { throw new Error('boom from listener'); });", handshake());
    expect(child.stdout).not.toContain('NO CRASH');
    expect(child.status).toBe(1);
    expect(child.stderr).toContain('boom from listener');
  });
});

/**
 * Runs a server on upstream in a child process (it is expected to crash), sends it `requestBytes`,
 * and reports how the child ended. `config` and `setup` are JavaScript source.
 */
function runUpstreamChild(config: string, setup: string, requestBytes: Buffer, afterWrite = ''): SpawnSyncReturns<string> {
  const script = `
    const http = require('http');
    const net = require('net');
    const WebSocketServer = require('websocket-upstream').server;
    const server = http.createServer();
    const ws = new WebSocketServer(Object.assign({ httpServer: server, keepalive: false }, ${config}));
    ${setup}
    server.listen(0, '127.0.0.1', () => {
      const client = net.connect(server.address().port, '127.0.0.1', () => {
        client.write(${JSON.stringify(requestBytes.toString('latin1'))}, 'latin1');
        ${afterWrite}
      });
      client.on('error', () => {});
    });
    setTimeout(() => { console.log('NO CRASH'); process.exit(0); }, 5000);
  `;
  return spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 15000 });
}
