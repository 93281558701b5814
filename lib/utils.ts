/** Small helpers WebSocket-Node exposed from `lib/utils`; its own tests import the buffer ones. */

/** Allocates an uninitialised Buffer of `size` bytes (upstream's Node < 4.5 shim). */
export function bufferAllocUnsafe(size: number): Buffer {
  return Buffer.allocUnsafe(size);
}

/** Makes a Buffer from a string (upstream's Node < 4.5 shim). */
export function bufferFromString(value: string, encoding?: BufferEncoding): Buffer {
  return Buffer.from(value, encoding);
}

/** Does nothing; upstream's placeholder callback. */
export function noop(): void {
  // intentionally empty
}
