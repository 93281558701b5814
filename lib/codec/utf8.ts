/**
 * UTF-8 (RFC 3629): validation, whole-buffer and streaming, so text can fail fast across frames and
 * chunks; and decoding of validated text into the string a text message's `utf8Data` is.
 */
import * as nodeBuffer from 'node:buffer';

const { isUtf8 } = nodeBuffer;
/** `buffer.isAscii` (Node >= 18.15) and `buffer.transcode` (absent from Node builds without ICU). */
const isAscii = (nodeBuffer as { isAscii?: (data: Uint8Array) => boolean }).isAscii;
const transcode = (nodeBuffer as { transcode?: typeof nodeBuffer.transcode }).transcode;

/**
 * From this many bytes of text that is not all ASCII, decoding through UTF-16 (ICU's converter,
 * then a plain copy into a two-byte string) beats V8's UTF-8 decoder: 2-3x at 4 KiB and 3-10x at
 * 64 KiB of Latin, CJK or emoji text (Node 20 and 22, measured); below about 1 KiB it does not.
 */
const TRANSCODE_FROM = 2048;

/**
 * Decodes UTF-8 that has been validated: exactly what `data.toString('utf8')` gives, faster for
 * long text that is not ASCII (see TRANSCODE_FROM).
 */
export function decodeUtf8(data: Buffer): string {
  const length = data.length;
  if (length < TRANSCODE_FROM) return data.toString('utf8');
  let text: string;
  if (isAscii === undefined || transcode === undefined || isAscii(data)) {
    text = data.toString('utf8');
  } else {
    try {
      text = transcode(data, 'utf8', 'ucs2').toString('ucs2');
    } catch {
      // An ICU without the UTF-8 converter: V8's decoder gives the same string.
      text = data.toString('utf8');
    }
  }
  if (length <= REMEMBER_UP_TO) {
    lastText = text;
    lastBytes = data;
  }
  return text;
}

/**
 * The last long text decoded and its bytes (the caller's, never written to after decoding): a text
 * sent on as it was received, an echo or a relay, is not encoded again. Up to 64 KiB, so what one
 * slot keeps alive stays small.
 */
let lastText: string | null = null;
let lastBytes: Buffer | null = null;
const REMEMBER_UP_TO = 64 * 1024;

/** The UTF-8 bytes of `text` when it is the last long text decoded (see decodeUtf8), else null. */
export function knownUtf8Bytes(text: string): Buffer | null {
  return lastText !== null && text.length === lastText.length && text === lastText ? lastBytes : null;
}

/** `Buffer.from(text, 'utf8')`, without encoding again a text just received (see knownUtf8Bytes). */
export function utf8Bytes(text: string): Buffer {
  return knownUtf8Bytes(text) ?? Buffer.from(text, 'utf8');
}

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
