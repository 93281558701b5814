/**
 * Binds a socket's events to the connection that owns it. The listeners are shared module-level
 * functions that find their connection through a symbol on the socket: no closures per connection.
 */
import type { Socket } from 'node:net';

/** WebSocket-Node's socket handlers, which the connection keeps under their upstream names. */
export interface SocketHost {
  handleSocketData(data: Buffer): void;
  handleSocketEnd(): void;
  handleSocketClose(hadError: boolean): void;
  handleSocketDrain(): void;
  handleSocketPause(): void;
  handleSocketResume(): void;
  handleSocketError(error: Error): void;
}

const kHost = Symbol('websocket-connection');
type OwnedSocket = Socket & { [kHost]?: object };

function host(socket: Socket): SocketHost {
  return (socket as OwnedSocket)[kHost] as SocketHost;
}

/**
 * Who the socket's shared listeners act for: its upgrade request until the connection takes the
 * socket over (one property slot on the socket, reused: no second field, nothing left behind).
 */
export function socketOwner(socket: Socket): unknown {
  return (socket as OwnedSocket)[kHost];
}

/** Makes `owner` the object the socket's shared listeners find (see `socketOwner`). */
export function setSocketOwner(socket: Socket, owner: object): void {
  (socket as OwnedSocket)[kHost] = owner;
}

/**
 * Guards the socket with our 'error' listener at once (WebSocket-Node removes every other one
 * here; it then left the socket with none until the 101 was written, so an early reset crashed the
 * process). Ours is added before the others go, so the 'error' entry of the socket's listener
 * table is never deleted: a deleted entry turns that table into a slower, larger dictionary.
 */
export function bindErrorListener(socket: Socket, owner: SocketHost, removeOthers: boolean): void {
  const others = removeOthers ? socket.listeners('error') : [];
  (socket as OwnedSocket)[kHost] = owner;
  socket.on('error', socketOnError);
  for (const listener of others) socket.removeListener('error', listener as (error: Error) => void);
}

/** Attaches the data, end, close, drain, pause and resume listeners (WebSocket-Node's set). */
export function bindSocketListeners(socket: Socket): void {
  socket.on('end', socketOnEnd);
  socket.on('close', socketOnClose);
  socket.on('drain', socketOnDrain);
  socket.on('pause', socketOnPause);
  socket.on('resume', socketOnResume);
  socket.on('data', socketOnData);
}

function socketOnData(this: Socket, data: Buffer): void {
  host(this).handleSocketData(data);
}

function socketOnEnd(this: Socket): void {
  host(this).handleSocketEnd();
}

function socketOnClose(this: Socket, hadError: boolean): void {
  host(this).handleSocketClose(hadError);
}

function socketOnDrain(this: Socket): void {
  host(this).handleSocketDrain();
}

function socketOnPause(this: Socket): void {
  host(this).handleSocketPause();
}

function socketOnResume(this: Socket): void {
  host(this).handleSocketResume();
}

function socketOnError(this: Socket, error: Error): void {
  host(this).handleSocketError(error);
}
