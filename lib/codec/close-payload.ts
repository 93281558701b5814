/** Close frame bodies (RFC 6455 §5.5.1) and the status codes allowed on the wire (§7.4). */
import { MAX_CLOSE_REASON } from './constants';

/**
 * Whether `code` may appear in a close frame on the wire. RFC 6455 §7.4.1/§7.4.2: 1004, 1005, 1006
 * and 1015 are reserved and "MUST NOT be set as a status code in a Close control frame"; 1016-2999
 * are for future RFCs (none assigned beyond 1014 by IANA); 3000-4999 are for libraries and applications.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

/** A parsed close body: the status code (1005 when absent, per §7.1.5) and the raw reason bytes. */
export interface ClosePayload {
  readonly code: number;
  readonly reason: Buffer;
  /** False when the body had no status code at all. */
  readonly hasCode: boolean;
}

const EMPTY = Buffer.alloc(0);

/** Splits a close body into code and reason; returns null for the illegal 1-byte body (§5.5.1). */
export function parseClosePayload(body: Buffer): ClosePayload | null {
  if (body.length === 0) return { code: 1005, reason: EMPTY, hasCode: false };
  if (body.length === 1) return null;
  return { code: body.readUInt16BE(0), reason: body.subarray(2), hasCode: true };
}

/**
 * Builds a close body from a code and a reason, cutting the reason to the 123 bytes a control frame
 * can carry without splitting a UTF-8 character.
 */
export function encodeClosePayload(code: number, reason?: string): Buffer {
  const text = reason === undefined || reason === '' ? EMPTY : truncateUtf8(Buffer.from(reason, 'utf8'), MAX_CLOSE_REASON);
  const body = Buffer.allocUnsafe(2 + text.length);
  body.writeUInt16BE(code, 0);
  text.copy(body, 2);
  return body;
}

/** Cuts `data` to at most `max` bytes, backing off to the start of a character. */
export function truncateUtf8(data: Buffer, max: number): Buffer {
  if (data.length <= max) return data;
  let end = max;
  // Step back over continuation bytes (10xxxxxx) so the cut lands on a character boundary.
  while (end > 0 && (data[end]! & 0xc0) === 0x80) end--;
  return data.subarray(0, end);
}
