// A Node client written against @types/websocket, named-import style.
// Covers: client, IClientConfig (every member), connect() argument shapes, abort(), every client
// event overload, and frame-level handling with assembleFragments off.
import * as http from 'http';
import * as https from 'https';
import * as url from 'url';
import { client, connection, frame, IClientConfig, IConfig, IBinaryMessage, IUtf8Message, Message } from 'websocket';
import type { IClientConfig as ClientOptions } from 'websocket';
import { expectType, notAny } from '../helpers';

const tlsOptions: https.RequestOptions = {
  rejectUnauthorized: false,
  ca: ['-----BEGIN CERTIFICATE-----'],
  servername: 'example.com',
  headers: { 'X-Tls-Only': '1' },
};

// Every IClientConfig member, including the inherited IConfig ones.
const clientConfig: IClientConfig = {
  webSocketVersion: 13,
  tlsOptions,
  maxReceivedFrameSize: 0x100000,
  maxReceivedMessageSize: 0x800000,
  fragmentOutgoingMessages: true,
  fragmentationThreshold: 0x4000,
  assembleFragments: true,
  closeTimeout: 5000,
  disableNagleAlgorithm: true,
};
const asBase: IConfig = clientConfig;
const viaTypeImport: ClientOptions = { ...clientConfig, webSocketVersion: 8 };
expectType<IClientConfig>(viaTypeImport);
expectType<number | undefined>(asBase.closeTimeout);

/** Promise wrapper most TypeScript users write around the event API. */
export function connectTo(target: string, protocol?: string): Promise<connection> {
  return new Promise<connection>((resolve, reject) => {
    const c = new client(clientConfig);
    c.on('connectFailed', (error) => {
      notAny(error);
      reject(error);
    });
    c.on('connect', (conn) => {
      notAny(conn);
      resolve(conn);
    });
    c.on('httpResponse', (response, self) => {
      notAny(response);
      notAny(self);
      const status: number | undefined = response.statusCode;
      const location = response.headers.location;
      reject(new Error(`HTTP ${status} ${location}`));
      const sameClient: client = self;
      sameClient.abort();
    });
    c.connect(target, protocol);
  });
}

// connect() in each argument shape: none, string and array protocols, origin, headers,
// extra http.request options (a custom agent, as for proxies), and a legacy url.Url object.
export function connectionVariants(): client {
  const c = new client();
  c.connect('ws://127.0.0.1:8080/');
  c.connect('ws://127.0.0.1:8080/chat', 'chat');
  c.connect('ws://127.0.0.1:8080/chat', ['chat', 'superchat']);
  c.connect('wss://example.com/feed', [], 'https://example.com');
  c.connect('wss://example.com/feed', undefined, undefined, { Authorization: 'Bearer abc', 'X-Count': 3 });
  c.connect(
    'wss://example.com/feed',
    'feed',
    'https://example.com',
    { Cookie: 'session=1' },
    { agent: new http.Agent({ keepAlive: true }), localAddress: '127.0.0.1', timeout: 1000 },
  );
  c.connect(url.parse('ws://127.0.0.1:8080/legacy?x=1'));
  c.abort();
  return c;
}

export function attach(c: client): void {
  c.addListener('connect', (conn: connection) => conn.sendUTF('hello'));
  c.addListener('connectFailed', (err: Error) => console.error('Connect Error: ' + err.toString()));
  c.addListener('httpResponse', (response: http.IncomingMessage, self: client) => {
    response.resume();
    self.abort();
  });
  const onConnect = (conn: connection): void => conn.close();
  c.once('connect', onConnect);
  c.removeListener('connect', onConnect);
}

// The upstream README's client, in TypeScript.
export function readmeClient(): void {
  const c = new client();
  c.on('connectFailed', (error) => {
    console.log('Connect Error: ' + error.toString());
  });
  c.on('connect', (conn) => {
    console.log('WebSocket Client Connected');
    conn.on('error', (error) => console.log('Connection Error: ' + error.toString()));
    conn.on('close', () => console.log('echo-protocol Connection Closed'));
    conn.on('message', (message) => {
      if (message.type === 'utf8') {
        console.log("Received: '" + message.utf8Data + "'");
      }
    });
    function sendNumber(): void {
      if (conn.connected) {
        const number = Math.round(Math.random() * 0xffffff);
        conn.sendUTF(number.toString());
        setTimeout(sendNumber, 1000);
      }
    }
    sendNumber();
  });
  c.connect('ws://localhost:8080/', 'echo-protocol');
}

// A client that reassembles fragments itself (assembleFragments: false gives only 'frame' events).
export function rawFrames(): void {
  const c = new client({ assembleFragments: false, webSocketVersion: 8 });
  c.on('connect', (conn) => {
    const parts: Buffer[] = [];
    conn.on('frame', (f) => {
      notAny(f);
      const incoming: frame = f;
      const opcode: number = incoming.opcode;
      const fin: boolean = incoming.fin;
      const length: number = incoming.length;
      const payload: Buffer = incoming.binaryPayload;
      const reserved: boolean = incoming.rsv1 || incoming.rsv2 || incoming.rsv3;
      if (incoming.mask) {
        console.log('peer masked its frame');
      }
      if (incoming.protocolError || incoming.frameTooLarge || incoming.invalidCloseFrameLength) {
        conn.drop(1002, incoming.dropReason);
        return;
      }
      if (opcode === 0x8) {
        const status: number = incoming.closeStatus;
        console.log('close frame', status);
      }
      parts.push(payload);
      if (fin && !reserved) {
        const whole = Buffer.concat(parts);
        parts.length = 0;
        console.log(length, whole.length, incoming.toString());
        // Echo it back as one unfragmented frame.
        incoming.fin = true;
        incoming.binaryPayload = whole;
        conn.sendFrame(incoming);
        conn.sendFrame(incoming, (err) => err && console.error(err.message));
        const wire: Buffer = incoming.toBuffer(true);
        console.log(wire.length);
      }
    });
  });
}

export function describe(message: Message): string {
  if (message.type === 'binary') {
    const b: IBinaryMessage = message;
    return `${b.binaryData.length} bytes`;
  }
  const u: IUtf8Message = message;
  return u.utf8Data;
}
