/** The broker's pure parts: the delivery envelope, the bounded queue, and message encoding for fan-out. */
import { decodeDelivery, encodeDelivery } from '../../lib/brokers/envelope';
import { BoundedQueue } from '../../lib/brokers/bounded-queue';
import type { OutgoingDelivery } from '../../lib/brokers/broker';
import { encodeUnmaskedMessage } from '../../lib/codec/frame-writer';
import { parseFrames } from '../helpers/frames';

describe('delivery envelope', () => {
  const sample: OutgoingDelivery = { kind: 'publish', target: 'room/é', data: Buffer.from('hello'), binary: false, compress: true, except: 'n1:7' };

  test('round-trips every kind, flags and strings', () => {
    for (const kind of ['publish', 'broadcast', 'direct'] as const) {
      for (const binary of [false, true]) {
        for (const compress of [false, true]) {
          const delivery = { ...sample, kind, binary, compress, data: binary ? Buffer.from([0xff, 0, 1]) : sample.data };
          expect(decodeDelivery(encodeDelivery(delivery, 'node-A'))).toEqual({ ...delivery, origin: 'node-A' });
        }
      }
    }
  });

  test('the header is laid out as documented', () => {
    const bytes = encodeDelivery({ ...sample, target: 't', except: '', data: Buffer.from('x') }, 'ab');
    expect(bytes.toString('hex')).toBe('575301' + '01' + '00' + '02' + '6162' + '0001' + '74' + '0000' + '78');
  });

  test('anything else is null, never an exception', () => {
    const good = encodeDelivery(sample, 'node');
    const bad: Buffer[] = [
      Buffer.alloc(0),
      Buffer.from('hello world, not an envelope'),
      Buffer.from([0x57, 0x53, 2, 1, 0, 0, 0, 0, 0, 0]), // version 2
      Buffer.from([0x57, 0x53, 1, 9, 0, 0, 0, 0, 0, 0]), // kind 9
      good.subarray(0, 8), // cut inside the header
      Buffer.concat([good.subarray(0, good.length - 5), Buffer.from([0xc3, 0x28])]), // text that is not UTF-8
    ];
    for (let i = 0; i < good.length - sample.data.length; i++) bad.push(good.subarray(0, i));
    for (const bytes of bad) expect(decodeDelivery(bytes)).toBeNull();
    // A long length field pointing past the end.
    const lying = Buffer.from(good);
    lying.writeUInt16BE(0xffff, 6 + 4);
    expect(decodeDelivery(lying)).toBeNull();
  });

  test('a topic longer than 64 KiB is refused with a RangeError', () => {
    expect(() => encodeDelivery({ ...sample, target: 'x'.repeat(0x10000) }, 'n')).toThrow(RangeError);
  });
});

describe('BoundedQueue', () => {
  test('keeps at most `limit` items, dropping and counting the oldest', () => {
    const queue = new BoundedQueue<number>(3);
    for (let i = 1; i <= 5; i++) queue.push(i);
    expect(queue.length).toBe(3);
    expect(queue.dropped).toBe(2);
    expect(queue.drain()).toEqual([3, 4, 5]);
    expect(queue.length).toBe(0);
    queue.push(6);
    expect(queue.drain()).toEqual([6]);
  });

  test('a limit of 0 keeps nothing; long runs stay within the limit', () => {
    const none = new BoundedQueue<number>(0);
    none.push(1);
    expect([none.length, none.dropped]).toEqual([0, 1]);
    const queue = new BoundedQueue<number>(10);
    for (let i = 0; i < 100000; i++) queue.push(i);
    expect(queue.length).toBe(10);
    expect(queue.dropped).toBe(99990);
    expect(queue.drain()).toEqual([99990, 99991, 99992, 99993, 99994, 99995, 99996, 99997, 99998, 99999]);
  });
});

describe('encodeUnmaskedMessage', () => {
  test('one frame, or fragments of the threshold with RSV1 on the first only', () => {
    expect(encodeUnmaskedMessage(0x1, Buffer.from('hi'), 0, false).toString('hex')).toBe('81026869');
    expect(encodeUnmaskedMessage(0x2, Buffer.alloc(0), 10, false).toString('hex')).toBe('8200');
    const payload = Buffer.alloc(70000, 7);
    const { frames, rest } = parseFrames(encodeUnmaskedMessage(0x2, payload, 30000, true));
    expect(rest.length).toBe(0);
    expect(frames.map((f) => [f.opcode, f.fin, f.rsv1, f.masked, f.payload.length])).toEqual([
      [0x2, false, true, false, 30000],
      [0x0, false, false, false, 30000],
      [0x0, true, false, false, 10000],
    ]);
    expect(Buffer.concat(frames.map((f) => f.payload))).toEqual(payload);
    // Exactly the threshold: one frame; the 64-bit length form above 65535.
    expect(parseFrames(encodeUnmaskedMessage(0x1, Buffer.alloc(100, 0x61), 100, false)).frames).toHaveLength(1);
    expect(encodeUnmaskedMessage(0x2, payload, 0, false).subarray(0, 10).toString('hex')).toBe('827f0000000000011170');
  });
});
