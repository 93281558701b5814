/**
 * Differential test of `WebSocketFrame#toBuffer()`: frames are built field by field, the same way,
 * on ours and on upstream websocket@1.0.35 (installed as websocket-upstream), over a deterministic
 * grid of field combinations. Each side's bytes (or thrown error), and what toBuffer() leaves in
 * `length`, `maskBytes` and the payload, must be equal.
 *
 * Random masking keys: upstream draws them from Math.random, ours from crypto, so the two can't be
 * made to agree. With `nullMask` both use the zero key and the bytes are compared as they are;
 * without it, each output is normalised first: the key is read from the header, the payload
 * unmasked with it and the key zeroed; the key must also be the one left in `maskBytes`.
 *
 * Upstream aborts the process (a failed assertion in bufferutil's native mask()) for a masked
 * payload that is neither a Buffer nor a typed array; there ours throws a TypeError instead. Those
 * cases run on ours only, plus once on upstream in a child process to pin the difference.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import OurFrame = require('../../lib/WebSocketFrame');

const UpstreamFrame = require('websocket-upstream/lib/WebSocketFrame') as typeof OurFrame;

type Side = 'ours' | 'upstream';
const FRAMES: Record<Side, typeof OurFrame> = { ours: OurFrame, upstream: UpstreamFrame };

/** One combination: every field is optional; a field that is absent is left as the constructor set it. */
interface Case {
  name: string;
  /** Fields assigned after construction (fin, rsv1-3, mask, opcode, closeStatus, length, maskBytes, …). */
  fields: Record<string, unknown>;
  /** Makes the payload; absent = `binaryPayload` is never assigned. Called once per side. */
  payload?: () => unknown;
  /** The constructor's arguments; by default a zeroed 4-byte maskBytes, a 10-byte frameHeader and `{}`. */
  ctor?: () => [unknown, unknown, unknown];
  nullMask?: unknown;
}

/** What one side did, in a form that compares across sides and reads well in a diff. */
interface Observed {
  output?: string;
  error?: { name: string; code: unknown; message: string };
  /** The `length` field afterwards (upstream leaves NaN or undefined in it for odd payloads). */
  length: unknown;
  maskBytes: string;
  payload: string;
  /** Random-key runs: whether the key in the output is the one written into maskBytes. */
  keyInMaskBytes?: boolean;
}

function describeValue(value: unknown): string {
  if (ArrayBuffer.isView(value)) {
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return `${value.constructor.name}(${describeBytes(bytes)})`;
  }
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}

/** Short outputs in full; long ones by size, head and digest, so a failure prints a readable diff. */
function describeBytes(bytes: Buffer): string {
  if (bytes.length <= 160) return bytes.toString('hex');
  const digest = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  return `${bytes.subarray(0, 16).toString('hex')}… ${bytes.length} bytes sha256:${digest}`;
}

const defaultCtor = (): [unknown, unknown, unknown] => [Buffer.alloc(4), Buffer.alloc(10), {}];

function run(side: Side, c: Case): Observed {
  const Frame = FRAMES[side];
  const [maskBytes, frameHeader, config] = (c.ctor ?? defaultCtor)();
  const frame = new Frame(maskBytes as Buffer, frameHeader as Buffer, config as object);
  Object.assign(frame, c.fields);
  if (c.payload !== undefined) Object.assign(frame, { binaryPayload: c.payload() });
  let output: Buffer | undefined;
  const observed: Observed = { length: undefined, maskBytes: '', payload: '' };
  try {
    output = frame.toBuffer(c.nullMask as boolean);
  } catch (error) {
    // Node's own errors come from another realm than jest's: compare by name, code and text.
    const e = error as Error & { code?: unknown };
    observed.error = { name: e.name, code: e.code, message: e.message };
  }
  const maskAfter: unknown = frame.maskBytes;
  const maskCopy = Buffer.isBuffer(maskAfter) ? Buffer.from(maskAfter) : undefined;
  if (output !== undefined && frame.mask && !c.nullMask) {
    // Random key: unmask with the key the frame carries, then zero it in the output and in maskBytes.
    output = Buffer.from(output);
    const lengthCode = output[1]! & 0x7f;
    const keyAt = lengthCode === 126 ? 4 : lengthCode === 127 ? 10 : 2;
    const key = Buffer.from(output.subarray(keyAt, keyAt + 4));
    observed.keyInMaskBytes = maskCopy !== undefined && maskCopy.subarray(0, 4).equals(key);
    for (let i = keyAt + 4; i < output.length; i++) output[i] = output[i]! ^ key[(i - keyAt - 4) & 3]!;
    output.fill(0, keyAt, keyAt + 4);
    maskCopy?.fill(0, 0, 4);
  }
  if (output !== undefined) observed.output = describeBytes(output);
  observed.length = frame.length;
  observed.maskBytes = maskCopy === undefined ? describeValue(maskAfter) : describeBytes(maskCopy);
  observed.payload = describeValue((frame as { binaryPayload: unknown }).binaryPayload);
  return observed;
}

/** Runs a case on both sides and expects identical observations. */
function expectSame(c: Case): Observed {
  const upstream = run('upstream', c);
  const ours = run('ours', c);
  expect(ours).toEqual(upstream);
  return upstream;
}

/** Deterministic, non-repeating-looking payload bytes. */
function pattern(length: number, offset = 0): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + offset * 7 + 11) & 0xff;
  return out;
}

const OPCODES = [0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xa, 0xf] as const;
/** Around both length-form boundaries, for data frames (n) and close frames (2 + n). */
const LENGTHS = [0, 1, 2, 123, 124, 125, 126, 127, 65533, 65534, 65535, 65536, 65537] as const;
const MASKING = [
  { mask: false, nullMask: undefined },
  { mask: true, nullMask: true },
  { mask: true, nullMask: false },
  { mask: true, nullMask: undefined },
] as const;

describe('WebSocketFrame#toBuffer: ours and websocket@1.0.35 give the same bytes', () => {
  describe('every opcode × payload length × masking', () => {
    const cases: Case[] = [];
    for (const opcode of OPCODES) {
      for (const length of LENGTHS) {
        for (const { mask, nullMask } of MASKING) {
          cases.push({
            name: `opcode ${opcode}, ${length}-byte payload, mask ${mask}, nullMask ${String(nullMask)}`,
            fields: { fin: true, mask, opcode, closeStatus: opcode === 0x8 ? 1000 + (length % 3000) : -1 },
            payload: () => pattern(length, opcode),
            nullMask,
          });
        }
      }
    }
    test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
      const upstream = expectSame(c);
      // Guard against a vacuous pass: only the close frame without a valid status may throw here.
      expect(upstream.error).toBeUndefined();
    });
  });

  describe('fin / rsv1 / rsv2 / rsv3 / mask bits', () => {
    const cases: Case[] = [];
    for (let bits = 0; bits < 32; bits++) {
      for (const opcode of [0x0, 0x1, 0x8, 0x9]) {
        const fields = {
          fin: (bits & 1) !== 0,
          rsv1: (bits & 2) !== 0,
          rsv2: (bits & 4) !== 0,
          rsv3: (bits & 8) !== 0,
          mask: (bits & 16) !== 0,
          opcode,
          closeStatus: 1001,
        };
        cases.push({ name: `${JSON.stringify(fields)}`, fields, payload: () => Buffer.from('hi'), nullMask: true });
      }
    }
    // Upstream tests the flags for truthiness, whatever their type.
    const truthy: unknown[] = [1, 'yes', {}, [], -1];
    const falsy: unknown[] = [0, '', null, undefined, Number.NaN];
    for (const [index, value] of [...truthy, ...falsy].entries()) {
      for (const flag of ['fin', 'rsv1', 'rsv2', 'rsv3', 'mask']) {
        cases.push({
          name: `${flag} = ${describeValue(value)} (#${index})`,
          fields: { fin: flag === 'fin' ? value : false, opcode: 0x2, [flag]: value },
          payload: () => Buffer.from('flags'),
          nullMask: true,
        });
      }
    }
    test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
      expect(expectSame(c).error).toBeUndefined();
    });
  });

  describe('opcode values that are not 0-15 integers (only `=== 8` makes a close frame)', () => {
    const opcodes: unknown[] = [0x18, 0x10, 0x1f, -8, 8.5, 1.5, '8', '1', undefined, null, Number.NaN, 255];
    const cases: Case[] = opcodes.flatMap((opcode, index) =>
      [false, true].map((mask) => ({
        name: `opcode ${describeValue(opcode)} (#${index}), mask ${mask}`,
        fields: { fin: true, opcode, mask, closeStatus: 1000 },
        payload: () => Buffer.from('reason'),
        nullMask: true,
      })),
    );
    cases.push({ name: 'opcode never assigned', fields: { fin: true }, payload: () => Buffer.from('x') });
    test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
      expectSame(c);
    });
  });

  describe('close frames: closeStatus × payload', () => {
    const statuses: [string, unknown][] = [
      ['never assigned (-1)', Symbol.for('unset')],
      ...([0, 1000, 1005, 4999, 65535, 65536, -1, 1000.5, Number.NaN, undefined, null, '1000', '0x3e8', 'abc', Infinity].map(
        (s) => [describeValue(s), s] as [string, unknown],
      )),
    ];
    const payloads: [string, (() => unknown) | undefined][] = [
      ['never assigned', undefined],
      ['null', () => null],
      ['undefined', () => undefined],
      ['empty Buffer', () => Buffer.alloc(0)],
      ['"bye"', () => Buffer.from('bye')],
      ['123 bytes (total 125)', () => pattern(123)],
      ['124 bytes (total 126)', () => pattern(124)],
      ['65533 bytes (total 65535)', () => pattern(65533)],
      ['65534 bytes (total 65536)', () => pattern(65534)],
    ];
    const cases: Case[] = [];
    for (const [statusName, status] of statuses) {
      for (const [payloadName, payload] of payloads) {
        for (const { mask, nullMask } of MASKING) {
          const fields: Record<string, unknown> = { fin: true, opcode: 0x8, mask };
          if (status !== Symbol.for('unset')) fields['closeStatus'] = status;
          const c: Case = {
            name: `closeStatus ${statusName}, payload ${payloadName}, mask ${mask}, nullMask ${String(nullMask)}`,
            fields,
            nullMask,
          };
          if (payload !== undefined) c.payload = payload;
          cases.push(c);
        }
      }
    }
    test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
      expectSame(c);
    });

    test('a close frame with a null payload writes the status code alone (payload length 2)', () => {
      for (const side of ['ours', 'upstream'] as const) {
        const frame = new FRAMES[side](Buffer.alloc(4), Buffer.alloc(10), {});
        frame.fin = true;
        frame.opcode = 0x8;
        frame.closeStatus = 1000;
        Object.assign(frame, { binaryPayload: null });
        expect(frame.toBuffer().toString('hex')).toBe('880203e8');
        expect(frame.length).toBe(2);
      }
    });
  });

  /** Payloads that are not Buffers; `masked data aborts` marks the ones bufferutil's native mask() rejects. */
  const OTHER_PAYLOADS: { name: string; make: () => unknown; maskedDataAborts: boolean }[] = [
    { name: 'null', make: () => null, maskedDataAborts: false },
    { name: 'undefined', make: () => undefined, maskedDataAborts: false },
    { name: 'false', make: () => false, maskedDataAborts: false },
    { name: '0', make: () => 0, maskedDataAborts: false },
    { name: 'NaN', make: () => Number.NaN, maskedDataAborts: false },
    { name: 'empty string', make: () => '', maskedDataAborts: false },
    { name: 'empty Buffer', make: () => Buffer.alloc(0), maskedDataAborts: false },
    { name: 'Buffer at an odd offset (13 bytes)', make: () => pattern(40).subarray(3, 16), maskedDataAborts: false },
    { name: 'Buffer at an odd offset (1000 bytes)', make: () => pattern(1010).subarray(5, 1005), maskedDataAborts: false },
    { name: 'Uint8Array', make: () => new Uint8Array([1, 2, 3]), maskedDataAborts: false },
    { name: 'empty Uint8Array', make: () => new Uint8Array(0), maskedDataAborts: false },
    { name: 'Uint8Array view at an offset', make: () => new Uint8Array(new Uint8Array(pattern(700)).buffer, 9, 600), maskedDataAborts: false },
    { name: 'Uint16Array (length counts elements)', make: () => new Uint16Array([0x0102, 0x0304, 0x0506]), maskedDataAborts: false },
    { name: 'Float64Array', make: () => new Float64Array([1.5, -2]), maskedDataAborts: false },
    { name: 'DataView (no length)', make: () => new DataView(new ArrayBuffer(4)), maskedDataAborts: false },
    { name: 'ArrayBuffer (no length)', make: () => new ArrayBuffer(3), maskedDataAborts: false },
    { name: 'string', make: () => 'abc', maskedDataAborts: true },
    { name: 'array', make: () => [1, 2, 3], maskedDataAborts: true },
    { name: 'empty array', make: () => [], maskedDataAborts: true },
    { name: 'object without length', make: () => ({}), maskedDataAborts: false },
    { name: 'object with length 3', make: () => ({ length: 3 }), maskedDataAborts: true },
    { name: 'object with length 0', make: () => ({ length: 0 }), maskedDataAborts: true },
    { name: 'object with length "3"', make: () => ({ length: '3' }), maskedDataAborts: false },
    { name: 'true', make: () => true, maskedDataAborts: false },
    { name: 'number 5', make: () => 5, maskedDataAborts: false },
    {
      name: 'object with a Buffer-like copy()',
      make: () => ({
        length: 3,
        copy: (target: Buffer, offset: number): number => target.write('xyz', offset, 'latin1'),
      }),
      maskedDataAborts: true,
    },
  ];

  describe('binaryPayload of other types', () => {
    const cases: Case[] = [];
    const oursOnly: Case[] = [];
    for (const payload of OTHER_PAYLOADS) {
      for (const opcode of [0x0, 0x1, 0x2, 0x8, 0x9]) {
        for (const { mask, nullMask } of MASKING) {
          const c: Case = {
            name: `${payload.name}, opcode ${opcode}, mask ${mask}, nullMask ${String(nullMask)}`,
            fields: { fin: true, opcode, mask, closeStatus: 1000 },
            payload: payload.make,
            nullMask,
          };
          // A close frame copies its payload into a fresh Buffer first, so only data reaches mask().
          (mask && opcode !== 0x8 && payload.maskedDataAborts ? oursOnly : cases).push(c);
        }
      }
    }
    test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
      expectSame(c);
    });

    test.each(oursOnly.map((c) => [c.name, c] as const))('compat "masked non-Buffer payload": %s throws a TypeError', (_name, c) => {
      const ours = run('ours', c);
      expect(ours.error).toEqual({
        name: 'TypeError',
        code: undefined,
        message: "A masked frame's binaryPayload must be a Buffer or a typed array.",
      });
    });

    test('compat "masked non-Buffer payload": upstream aborts the process there', () => {
      const script = `
        const paths = [require.resolve('websocket-upstream')];
        const mask = require(require.resolve('bufferutil', { paths })).mask;
        console.log(String(mask).includes('[native code]') ? 'NATIVE' : 'FALLBACK');
        const Frame = require('websocket-upstream/lib/WebSocketFrame');
        const frame = new Frame(Buffer.alloc(4), Buffer.alloc(10), {});
        frame.fin = true; frame.opcode = 1; frame.mask = true; frame.binaryPayload = 'abc';
        frame.toBuffer(true);
        console.log('RETURNED');
      `;
      const child = spawnSync(process.execPath, ['-e', script], {
        cwd: path.resolve(__dirname, '..', '..'),
        encoding: 'utf8',
        timeout: 10000,
      });
      // bufferutil's JavaScript fallback (no prebuilt binary for the platform) does not abort.
      if (!child.stdout.includes('NATIVE')) return;
      expect(child.stdout).not.toContain('RETURNED');
      expect(child.signal !== null || child.status !== 0).toBe(true);
    });
  });

  describe('maskBytes, frameHeader and a preset length', () => {
    const maskBytesValues: [string, () => unknown][] = [
      ['a 4-byte Buffer', () => Buffer.from([9, 8, 7, 6])],
      ['an 8-byte Buffer (its extra bytes are copied, then overwritten)', () => Buffer.alloc(8, 0xee)],
      ['a 4-byte view into a larger Buffer', () => Buffer.alloc(16, 0xdd).subarray(3, 7)],
      ['a 3-byte Buffer', () => Buffer.alloc(3)],
      ['a Uint8Array', () => new Uint8Array(4)],
      ['null', () => null],
      ['undefined', () => undefined],
    ];
    const cases: Case[] = [];
    for (const [name, make] of maskBytesValues) {
      for (const { mask, nullMask } of MASKING) {
        for (const [payloadName, payload] of [
          ['none', (): unknown => null],
          ['"hello"', (): unknown => Buffer.from('hello')],
          ['130 bytes', (): unknown => pattern(130)],
        ] as const) {
          for (const opcode of [0x1, 0x8]) {
            cases.push({
              name: `maskBytes ${name}, payload ${payloadName}, opcode ${opcode}, mask ${mask}, nullMask ${String(nullMask)}`,
              // Assigned after construction: ours' constructor defaults a missing maskBytes (see below).
              fields: { fin: true, opcode, mask, closeStatus: 1000, maskBytes: make() },
              payload,
              nullMask,
            });
          }
        }
      }
    }
    for (const frameHeader of [null, undefined, Buffer.alloc(0)]) {
      cases.push({
        name: `frameHeader ${describeValue(frameHeader)} is not read`,
        fields: { fin: true, opcode: 0x2, mask: true },
        ctor: () => [Buffer.alloc(4), frameHeader, {}],
        payload: () => Buffer.from('data'),
        nullMask: true,
      });
    }
    for (const length of [999, -5, 70000, undefined, Number.NaN]) {
      for (const opcode of [0x1, 0x8]) {
        cases.push({
          name: `a preset length ${String(length)} is replaced (opcode ${opcode})`,
          fields: { fin: true, opcode, closeStatus: 1000, length },
          payload: () => Buffer.from('four'),
        });
        cases.push({
          name: `a preset length ${String(length)} is replaced when there is no payload (opcode ${opcode})`,
          fields: { fin: true, opcode, closeStatus: 1000, length },
        });
      }
    }
    test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
      expectSame(c);
    });

    test('compat "WebSocketFrame constructor": a frame constructed without maskBytes can still be masked', () => {
      const c: Case = {
        name: 'no maskBytes',
        fields: { fin: true, opcode: 0x1, mask: true },
        ctor: () => [undefined, undefined, {}],
        payload: () => Buffer.from('hi'),
        nullMask: true,
      };
      expect(run('upstream', c).error).toMatchObject({ name: 'TypeError' });
      expect(run('ours', c)).toMatchObject({ output: '818200000000' + '6869' });
    });
  });

  test('random keys vary between calls, on ours as on upstream', () => {
    for (const side of ['ours', 'upstream'] as const) {
      const frame = new FRAMES[side](Buffer.alloc(4), Buffer.alloc(10), {});
      frame.fin = true;
      frame.opcode = 0x1;
      frame.mask = true;
      frame.binaryPayload = Buffer.from('x');
      const keys = new Set<string>();
      for (let i = 0; i < 8; i++) keys.add(frame.toBuffer().subarray(2, 6).toString('hex'));
      expect(keys.size).toBeGreaterThan(1);
    }
  });
});
