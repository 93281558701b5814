/**
 * Reassembles a message from the payload pieces of its frames (RFC 6455 §5.4), enforcing the
 * message size limit while bytes arrive and validating text as UTF-8 as it streams in, so a bad
 * sequence fails the connection on the piece that contains it (Autobahn 6.4.x "strict").
 */
import { invalidUtf8Error, tooBigError } from '../codec/errors';
import { decodeUtf8, isValidUtf8, Utf8StreamValidator } from '../codec/utf8';

/**
 * Each fragment is charged this many bytes against the message size limit on top of its payload, so
 * a flood of empty or tiny fragments is bounded like a large message is, while a legitimately
 * fragmented message only needs a slightly larger limit (compare ws's flat fragment count, which
 * fails Autobahn 9.3/9.4).
 */
export const FRAGMENT_OVERHEAD = 16;

const EMPTY = Buffer.alloc(0);

/** Collects the bytes of one message at a time. */
export class MessageAssembler {
  /** Whether a message is in progress (its first frame has arrived, its last has not). */
  active = false;
  /** The message's opcode: 1 text, 2 binary. */
  opcode = 0;
  /** Bytes of payload collected so far. */
  size = 0;

  private fragments = 0;
  /** The whole payload when it arrived as one piece: no copy needed. */
  private single: Buffer | null = null;
  /** Growing buffer once a message spans several pieces. */
  private acc: Buffer = EMPTY;
  /** Made for the first text that arrives in pieces: a connection that never gets one holds none. */
  private utf8: Utf8StreamValidator | null = null;
  /** The size limit (the connection's `maxReceivedMessageSize`). */
  readonly maxMessageSize: number;

  constructor(maxSize: number) {
    this.maxMessageSize = maxSize;
  }

  /** Starts a message with its first frame. */
  begin(opcode: number): void {
    this.active = true;
    this.opcode = opcode;
    this.size = 0;
    this.fragments = 0;
    this.single = null;
    this.acc = EMPTY;
    this.utf8?.reset();
  }

  /**
   * Accounts for a new frame of `length` payload bytes. `singleFrameMessage` says the frame is a
   * whole message on its own: compat, only the frame size limit applies to it then.
   */
  addFrame(length: number, singleFrameMessage: boolean): void {
    this.fragments++;
    if (singleFrameMessage && this.fragments === 1) return;
    const charged = this.size + length + this.fragments * FRAGMENT_OVERHEAD;
    if (charged > this.maxMessageSize) throw tooBigError('Maximum message size exceeded.');
  }

  /**
   * Adds a piece of payload. `wholeMessage` says the piece is the complete payload of a
   * single-frame message, which is then kept as a view without copying.
   */
  addPiece(piece: Buffer, wholeMessage: boolean, expectedTotal: number): void {
    if (wholeMessage && this.size === 0) {
      this.single = piece;
      this.size = piece.length;
      return;
    }
    if (this.opcode === 1 && !this.validator().push(piece)) throw invalidUtf8Error();
    // No size check here: addFrame() has already charged every announced frame against the limit,
    // and addProduced() checks the bytes an extension produces.
    const needed = this.size + piece.length;
    if (needed > this.acc.length) this.grow(needed, expectedTotal);
    piece.copy(this.acc, this.size);
    this.size = needed;
  }

  /**
   * The area the next `length` payload bytes of this message go to, for a caller that fills it
   * itself (unmasking straight into it); `commitReserved` then adds them. Never for the piece that is
   * a whole single-frame message: that one is kept without a copy (see `addPiece`).
   */
  reserve(length: number, expectedTotal: number): Buffer {
    const needed = this.size + length;
    if (needed > this.acc.length) this.grow(needed, expectedTotal);
    return this.acc.subarray(this.size, needed);
  }

  /** Adds the bytes just written into the area `reserve` returned. */
  commitReserved(piece: Buffer): void {
    if (this.opcode === 1 && !this.validator().push(piece)) throw invalidUtf8Error();
    this.size += piece.length;
  }

  /**
   * Adds bytes that were not counted by `addFrame`: the output of an extension such as
   * permessage-deflate, whose size is only known while it is produced.
   */
  addProduced(piece: Buffer): void {
    if (this.size + piece.length > this.maxMessageSize) throw tooBigError('Maximum message size exceeded.');
    this.addPiece(piece, false, 0);
  }

  /** Finishes the message: the payload for binary, the decoded string for text. */
  finish(): Buffer | string {
    this.active = false;
    let data: Buffer;
    if (this.single !== null) {
      data = this.single;
      this.single = null;
      if (this.opcode === 1) {
        if (!isValidUtf8(data)) throw invalidUtf8Error();
        return decodeUtf8(data);
      }
      return data;
    }
    data = this.size === this.acc.length ? this.acc : this.acc.subarray(0, this.size);
    this.acc = EMPTY;
    if (this.opcode === 1) {
      // RFC 6455 §8.1: a message ending inside a character is invalid too.
      if (this.utf8 !== null && !this.utf8.isComplete) throw invalidUtf8Error();
      return decodeUtf8(data);
    }
    return data;
  }

  /** Drops a message in progress (the connection failed or closed). */
  clear(): void {
    this.active = false;
    this.single = null;
    this.acc = EMPTY;
    this.size = 0;
    this.fragments = 0;
  }

  private validator(): Utf8StreamValidator {
    return (this.utf8 ??= new Utf8StreamValidator());
  }

  private grow(needed: number, expectedTotal: number): void {
    // Size exactly when the frame announced its length; otherwise double, but not past the limit.
    const capacity =
      expectedTotal >= needed
        ? expectedTotal
        : Math.max(needed, Math.min(Math.max(this.acc.length * 2, 256), this.maxMessageSize));
    const next = Buffer.allocUnsafe(capacity);
    if (this.size > 0) this.acc.copy(next, 0, 0, this.size);
    this.acc = next;
  }
}
