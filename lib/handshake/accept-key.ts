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
  return /^[A-Za-z0-9+/]{22}==$/.test(key);
}
