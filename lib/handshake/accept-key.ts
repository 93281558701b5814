/** The opening handshake's key proof (RFC 6455 §1.3, §4.2.2). */
import * as crypto from 'node:crypto';
import { createHash, randomBytes } from 'node:crypto';
import { WEBSOCKET_GUID } from '../codec/constants';

/**
 * Node's one-shot digest (20.12, 21.7 and later): no Hash object per handshake, half the time of
 * createHash(); absent on older Node, where createHash() does the same work.
 */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64') => string }).hash;

/** `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2 step 5.4). */
export function computeAcceptKey(key: string): string {
  if (oneShotHash !== undefined) return oneShotHash('sha1', key + WEBSOCKET_GUID, 'base64');
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

/** A fresh `Sec-WebSocket-Key`: RFC 6455 §4.1 "a randomly selected 16-byte value ... base64-encoded". */
export function generateKey(): string {
  return randomBytes(16).toString('base64');
}

/** Whether a key is base64 of exactly 16 bytes (RFC 6455 §4.2.1 item 5). */
export function isWellFormedKey(key: string): boolean {
  // 22 base64 digits and "==": checked by hand, as a regular expression test leaves garbage per handshake.
  if (key.length !== 24 || key.charCodeAt(22) !== 0x3d || key.charCodeAt(23) !== 0x3d) return false;
  for (let i = 0; i < 22; i++) if (!isBase64Digit(key.charCodeAt(i))) return false;
  return true;
}

/** A-Z, a-z, 0-9, "+" or "/". */
function isBase64Digit(code: number): boolean {
  return (
    (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x2b || code === 0x2f
  );
}
