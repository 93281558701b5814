/**
 * A message encoded once for a whole fan-out: the frames are made the first time a connection asks
 * for them and then written, as the same Buffer, to every other connection with the same settings
 * (fragmentation threshold; compression parameters where permessage-deflate shares them).
 */
import { Opcode } from '../codec/constants';
import { encodeUnmaskedMessage } from '../codec/frame-writer';
import type { PerMessageDeflate } from '../extensions/permessage-deflate';
import type { SharedMessage } from '../protocol/sender';

/** One published message; see the module comment. */
export class FanOutMessage implements SharedMessage {
  readonly opcode: number;
  /** The frames of the last plain encoding asked for, and its threshold (connections of one server share it). */
  private plainThreshold = -1;
  private plain: Buffer | null = null;
  /** Other encodings, keyed by threshold and compression parameters; rarely more than one. */
  private others: Map<string, Buffer> | null = null;
  /** Compressed payloads by compression parameters. */
  private deflated: Map<string, Buffer> | null = null;

  constructor(
    readonly payload: Buffer,
    binary: boolean,
    readonly compress: boolean = true,
  ) {
    this.opcode = binary ? Opcode.BINARY : Opcode.TEXT;
  }

  /** SharedMessage: the frames for one sender's settings, encoded once per distinct settings. */
  frames(threshold: number, deflate: PerMessageDeflate | null): Buffer {
    if (deflate === null && threshold === this.plainThreshold && this.plain !== null) return this.plain;
    const shareKey = deflate?.shareKey ?? null;
    const key = `${threshold}|${shareKey ?? ''}`;
    const known = this.others?.get(key);
    if (known !== undefined) return known;
    let frames: Buffer;
    if (deflate === null || shareKey === null) {
      frames = encodeUnmaskedMessage(this.opcode, this.payload, threshold, false);
      if (this.plain === null) {
        this.plain = frames;
        this.plainThreshold = threshold;
        return frames;
      }
    } else {
      const deflated = (this.deflated ??= new Map());
      let compressed = deflated.get(shareKey);
      if (compressed === undefined) {
        compressed = deflate.compressAlone(this.payload);
        deflated.set(shareKey, compressed);
      }
      frames = encodeUnmaskedMessage(this.opcode, compressed, threshold, true);
    }
    (this.others ??= new Map()).set(key, frames);
    return frames;
  }
}
