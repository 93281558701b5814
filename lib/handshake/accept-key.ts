/** The opening handshake's key proof (RFC 6455 §1.3, §4.2.2). */
import { createHash, randomBytes } from 'node:crypto';
import { WEBSOCKET_GUID } from '../codec/constants';

/** `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2 step 5.4). */
export function computeAcceptKey(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

/** A fresh `Sec-WebSocket-Key`: RFC 6455 §4.1 "a randomly selected 16-byte value ... base64-encoded". */
export function generateKey(): string {
  return randomBytes(16).toString('base64');
}

/** Whether a key is base64 of exactly 16 bytes (RFC 6455 §4.2.1 item 5). */
export function isWellFormedKey(key: string): boolean {
  return /^[A-Za-z0-9+/]{22}==$/.test(key);
}
