/**
 * The bytes of a delivery on the bus. Binary-safe and self-describing, so a node can tell a
 * delivery from anything else published on its channels (ignored and counted, never thrown):
 *
 *   0  magic 0x57 0x53 ("WS"), version 1
 *   3  kind: 1 publish, 2 broadcast, 3 direct
 *   4  flags: bit 0 binary, bit 1 uncompressed
 *   5  origin length (u8), origin
 *      target length (u16 BE), target (UTF-8)
 *      except length (u16 BE), except
 *      the message, to the end
 */
import { isUtf8 } from 'node:buffer';
import type { DeliveryKind, IncomingDelivery, OutgoingDelivery } from './broker';

const MAGIC_0 = 0x57;
const MAGIC_1 = 0x53;
const VERSION = 1;
const KINDS: readonly DeliveryKind[] = ['publish', 'broadcast', 'direct'];
const BINARY = 1;
const UNCOMPRESSED = 2;

/** Encodes a delivery from node `origin`; header and message in one Buffer. */
export function encodeDelivery(delivery: OutgoingDelivery, origin: string): Buffer {
  const target = Buffer.from(delivery.target, 'utf8');
  const except = Buffer.from(delivery.except, 'utf8');
  const originBytes = Buffer.from(origin, 'latin1');
  if (target.length > 0xffff || except.length > 0xffff || originBytes.length > 0xff) {
    throw new RangeError('A topic or connection id is too long for the broker (64 KiB at most).');
  }
  const head = 6 + originBytes.length + 2 + target.length + 2 + except.length;
  const out = Buffer.allocUnsafe(head + delivery.data.length);
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = VERSION;
  out[3] = KINDS.indexOf(delivery.kind) + 1;
  out[4] = (delivery.binary ? BINARY : 0) | (delivery.compress ? 0 : UNCOMPRESSED);
  out[5] = originBytes.length;
  let at = 6 + originBytes.copy(out, 6);
  at = out.writeUInt16BE(target.length, at);
  at += target.copy(out, at);
  at = out.writeUInt16BE(except.length, at);
  at += except.copy(out, at);
  delivery.data.copy(out, at);
  return out;
}

/** Decodes a delivery, or returns null for bytes that are not one (wrong magic, version, kind or lengths; text not UTF-8). */
export function decodeDelivery(bytes: Buffer): IncomingDelivery | null {
  if (bytes.length < 10 || bytes[0] !== MAGIC_0 || bytes[1] !== MAGIC_1 || bytes[2] !== VERSION) return null;
  const kind = KINDS[bytes[3]! - 1];
  if (kind === undefined) return null;
  const flags = bytes[4]!;
  let at = 6 + bytes[5]!;
  if (at + 2 > bytes.length) return null;
  const origin = bytes.toString('latin1', 6, at);
  const targetLength = bytes.readUInt16BE(at);
  at += 2;
  if (at + targetLength + 2 > bytes.length) return null;
  const target = bytes.toString('utf8', at, at + targetLength);
  at += targetLength;
  const exceptLength = bytes.readUInt16BE(at);
  at += 2;
  if (at + exceptLength > bytes.length) return null;
  const except = bytes.toString('utf8', at, at + exceptLength);
  at += exceptLength;
  const binary = (flags & BINARY) !== 0;
  const data = bytes.subarray(at);
  // RFC 6455 §8.1: a text message must be UTF-8; passing on anything else would make every peer fail its connection.
  if (!binary && !isUtf8(data)) return null;
  return { kind, target, origin, except, binary, compress: (flags & UNCOMPRESSED) === 0, data };
}
