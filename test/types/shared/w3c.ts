// Browser-style W3CWebSocket usage, in the two import styles public code uses for it:
// the esModuleInterop default import and the renamed named import.
// Covers: w3cwebsocket (constructor shapes, statics, attributes, handlers, send/close), ICloseEvent,
// IMessageEvent, IClientConfig as the sixth constructor argument.
import * as http from 'http';
import websocket from 'websocket';
import { w3cwebsocket as W3CWebSocket, ICloseEvent, IMessageEvent } from 'websocket';
import { expectType, notAny } from '../helpers';

// The upstream README's W3C client, in TypeScript.
export function readmeW3C(): websocket.w3cwebsocket {
  const client = new W3CWebSocket('ws://localhost:8080/', 'echo-protocol');
  client.onerror = function () {
    console.log('Connection Error');
  };
  client.onopen = function () {
    console.log('WebSocket Client Connected');
    function sendNumber(): void {
      if (client.readyState === client.OPEN) {
        const number = Math.round(Math.random() * 0xffffff);
        client.send(number.toString());
        setTimeout(sendNumber, 1000);
      }
    }
    sendNumber();
  };
  client.onclose = function () {
    console.log('echo-protocol Client Closed');
  };
  client.onmessage = function (e) {
    if (typeof e.data === 'string') {
      console.log("Received: '" + e.data + "'");
    }
  };
  return client;
}

// Handlers declared as standalone functions with @types' parameter types, then assigned.
function defaultOnOpen(): void {
  console.log('open');
}
function defaultOnError(error: Error): void {
  console.log('error', error);
}
function defaultOnClose(event: ICloseEvent): void {
  const code: number = event.code;
  const reason: string = event.reason;
  const clean: boolean = event.wasClean;
  console.log(code, reason, clean);
}
function defaultOnMessage(message: websocket.IMessageEvent): void {
  const data = message.data;
  if (typeof data === 'string') {
    console.log(data.toUpperCase());
  } else if (data instanceof ArrayBuffer) {
    console.log(new Uint8Array(data).length);
  } else {
    const buf: Buffer = data;
    console.log(buf.length);
  }
}

export function openFeed(
  endpoint: string,
  onopen: typeof defaultOnOpen = defaultOnOpen,
  onerror: typeof defaultOnError = defaultOnError,
  onclose: typeof defaultOnClose = defaultOnClose,
  onmessage: typeof defaultOnMessage = defaultOnMessage,
): W3CWebSocket {
  const ws = new websocket.w3cwebsocket(endpoint);
  ws.onopen = onopen;
  ws.onerror = onerror;
  ws.onclose = onclose;
  ws.onmessage = onmessage;
  return ws;
}

// Contextually typed handlers keep @types' parameter types.
export function typedHandlers(ws: W3CWebSocket): void {
  ws.onerror = (error) => {
    notAny(error);
    expectType<Error>(error);
  };
  ws.onclose = (event) => {
    notAny(event);
    expectType<ICloseEvent>(event);
    if (!event.wasClean) console.log(event.code, event.reason);
  };
  ws.onmessage = (message) => {
    notAny(message);
    const m: IMessageEvent = message;
    console.log(m.data);
  };
  ws.onopen = () => ws.send('ready');
}

// Reading the handlers back into variables typed as @types types them (to restore, chain or pass them
// on), then writing such values back. Our handler types must be assignable both ways.
export function storedHandlers(ws: W3CWebSocket, other: W3CWebSocket): void {
  const open: () => void = ws.onopen;
  const close: (event: ICloseEvent) => void = ws.onclose;
  const message: (message: IMessageEvent) => void = ws.onmessage;
  const error: (error: Error) => void = ws.onerror;
  other.onopen = open;
  other.onclose = close;
  other.onmessage = message;
  other.onerror = error;
  const saved: Array<(event: ICloseEvent) => void> = [ws.onclose, other.onclose];
  ws.onclose = saved[1];
  ws.onopen = () => undefined;
  ws.onclose = (event: ICloseEvent) => console.log(event.code);
  ws.onmessage = (event: IMessageEvent) => console.log(event.data);
  ws.onerror = (err: Error) => console.log(err.message);
}

// Every constructor shape, up to the sixth (client config) argument.
export function constructors(): W3CWebSocket[] {
  const headers: http.OutgoingHttpHeaders = { Authorization: 'Bearer abc' };
  return [
    new W3CWebSocket('ws://127.0.0.1:8080/'),
    new W3CWebSocket('ws://127.0.0.1:8080/', ['chat', 'superchat']),
    new W3CWebSocket('ws://127.0.0.1:8080/', 'chat', 'https://example.com'),
    new W3CWebSocket('ws://127.0.0.1:8080/', undefined, undefined, headers),
    new W3CWebSocket('wss://example.com/', 'chat', 'https://example.com', headers, {
      agent: new http.Agent({ keepAlive: true }),
    }),
    new W3CWebSocket('wss://example.com/', undefined, undefined, undefined, undefined, {
      maxReceivedFrameSize: 0x200000,
      maxReceivedMessageSize: 0x1000000,
      webSocketVersion: 13,
      tlsOptions: { rejectUnauthorized: false },
    }),
  ];
}

export function state(ws: W3CWebSocket): string {
  // Static and instance readyState constants.
  const statics: number[] = [W3CWebSocket.CONNECTING, W3CWebSocket.OPEN, W3CWebSocket.CLOSING, W3CWebSocket.CLOSED];
  const instance: number[] = [ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED];
  console.log(statics, instance, websocket.w3cwebsocket.OPEN);

  const target: string = ws.url;
  const readyState: number = ws.readyState;
  const protocol: string | undefined = ws.protocol;
  const extensionNames = ws.extensions.map((e) => e.name);
  const buffered: number = ws.bufferedAmount;
  ws.binaryType = 'arraybuffer';
  const binaryType: string = ws.binaryType;

  switch (ws.readyState) {
    case W3CWebSocket.CONNECTING:
      return 'connecting';
    case W3CWebSocket.OPEN:
      return `open ${target} ${readyState} ${protocol} ${extensionNames} ${buffered} ${binaryType}`;
    case W3CWebSocket.CLOSING:
      return 'closing';
    default:
      return 'closed';
  }
}

export function sendAll(ws: W3CWebSocket): void {
  ws.send('text');
  ws.send(Buffer.from('buffer'));
  ws.send(new ArrayBuffer(8));
  ws.send(new Uint8Array([1, 2, 3]));
  ws.send(new Float32Array(2));
  ws.send(new DataView(new ArrayBuffer(4)));
  ws.send({ toString: () => 'stringified' });
  ws.close();
  ws.close(1000);
  ws.close(4001, 'bye');
}
