/** UTF-8 validation (RFC 3629), whole-buffer and streaming, so text can fail fast across frames and chunks. */
import { isUtf8 } from 'node:buffer';

/** Whether `data` is entirely well-formed UTF-8 (native, via `buffer.isUtf8`). */
export function isValidUtf8(data: Uint8Array): boolean {
  return data.length === 0 || isUtf8(data);
}

/**
 * Validates a byte stream that arrives in pieces and rejects as soon as a piece makes it invalid,
 * including a sequence that is still incomplete but can no longer become valid (`f4 90` is refused
 * at once, not when the next piece arrives). The bulk of each piece is checked natively; only the
 * bytes of a character split between pieces go through the byte-wise state machine.
 */
export class Utf8StreamValidator {
  /** Continuation bytes still owed by the current character. */
  private need = 0;
  /** Allowed range of the next continuation byte (Unicode Table 3-7). */
  private lo = 0x80;
  private hi = 0xbf;

  /** True when no character is left half-finished. */
  get isComplete(): boolean {
    return this.need === 0;
  }

  /** Forgets any half-finished character, for the next message. */
  reset(): void {
    this.need = 0;
    this.lo = 0x80;
    this.hi = 0xbf;
  }

  /** Feeds `data[start..end)`; returns false as soon as the stream can no longer be valid UTF-8. */
  push(data: Uint8Array, start = 0, end = data.length): boolean {
    let i = start;
    // Finish a character left over from the previous piece.
    while (this.need > 0 && i < end) {
      if (!this.step(data[i]!)) return false;
      i++;
    }
    if (i === end) return true;
    const tail = incompleteTailStart(data, i, end);
    if (tail > i && !isUtf8(data.subarray(i, tail))) return false;
    for (let j = tail; j < end; j++) {
      if (!this.step(data[j]!)) return false;
    }
    return true;
  }

  private step(byte: number): boolean {
    if (this.need === 0) {
      if (byte < 0x80) return true;
      if (byte < 0xc2) return false;
      if (byte < 0xe0) {
        this.need = 1;
        this.lo = 0x80;
        this.hi = 0xbf;
      } else if (byte < 0xf0) {
        this.need = 2;
        this.lo = byte === 0xe0 ? 0xa0 : 0x80;
        this.hi = byte === 0xed ? 0x9f : 0xbf;
      } else if (byte < 0xf5) {
        this.need = 3;
        this.lo = byte === 0xf0 ? 0x90 : 0x80;
        this.hi = byte === 0xf4 ? 0x8f : 0xbf;
      } else {
        return false;
      }
      return true;
    }
    if (byte < this.lo || byte > this.hi) return false;
    this.lo = 0x80;
    this.hi = 0xbf;
    this.need--;
    return true;
  }
}

/**
 * Index where a trailing, not yet complete multi-byte character starts, or `end` when the piece
 * ends on a character boundary. Only the last three bytes can belong to such a character.
 */
function incompleteTailStart(data: Uint8Array, start: number, end: number): number {
  const limit = Math.max(start, end - 3);
  for (let i = end - 1; i >= limit; i--) {
    const byte = data[i]!;
    if (byte < 0x80) return end;
    if (byte >= 0xc0) {
      const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
      return end - i < length ? i : end;
    }
  }
  return end;
}
