/**
 * The type vocabulary of `@types/websocket`, kept under the same names so code written against it
 * compiles against the bundled types; widened where the run-time values are wider.
 */
import type { EventEmitter } from 'node:events';
import type { SetCookie } from './handshake/cookies';

/** Anything that can be sent as text. */
export interface IStringified {
  // Method syntax, so a number's `toString(radix?)` (issue #195: `send(42)`) fits too.
  toString(): string;
}

/** A cookie to set with `accept()`. */
export interface ICookie extends SetCookie {
  name: string;
  value: string;
  // `number`, as @types has it, so `const n: number = cookie.maxage` compiles; accept() also takes
  // SetCookie, whose maxage may be a numeric string (the runtime parses it).
  maxage?: number | undefined;
}

/** A negotiated or requested extension (`@types`' shape; requested ones also carry `params`). */
export interface IExtension {
  name: string;
  value: string;
  params?: Array<{ name: string; value?: string | undefined }> | undefined;
}

/** A text message. */
export interface IUtf8Message {
  type: 'utf8';
  utf8Data: string;
}

/** A binary message. */
export interface IBinaryMessage {
  type: 'binary';
  binaryData: Buffer;
}

/** What `'message'` carries. */
export type Message = IUtf8Message | IBinaryMessage;

/** The message shape of older `@types/websocket` versions, still used in user code. */
export interface IMessage {
  type: string;
  utf8Data?: string | undefined;
  binaryData?: Buffer | undefined;
}

/** WebSocket-Node's buffer list, as `@types` describes it (`WebSocketFrame.addData` reads this shape). */
export interface IBufferList extends EventEmitter {
  encoding: string;
  length: number;
  write(buf: Buffer): boolean;
  end(buf: Buffer): void;
  push(): void;
  forEach(fn: (buf: Buffer) => boolean): void;
  join(start: number, end: number): Buffer;
  joinInto(buf: Buffer, offset: number, start: number, end: number): Buffer;
  advance(n: number): IBufferList;
  take(n: number, encoding?: string): Buffer;
  take(encoding?: string): Buffer;
  toString(): string;
  on(event: 'advance', cb: (n: number) => void): this;
  on(event: 'write', cb: (buf: Buffer) => void): this;
  addListener(event: 'advance', cb: (n: number) => void): this;
  addListener(event: 'write', cb: (buf: Buffer) => void): this;
}

/** A close event of W3CWebSocket. */
export interface ICloseEvent {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** A message event of W3CWebSocket. */
export interface IMessageEvent {
  data: string | Buffer | ArrayBuffer;
}
