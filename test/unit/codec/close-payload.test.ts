import { encodeClosePayload, isValidCloseCode, parseClosePayload, truncateUtf8 } from '../../../lib/codec/close-payload';
import { MAX_CLOSE_REASON } from '../../../lib/codec/constants';
import { isValidUtf8 } from '../../../lib/codec/utf8';
import { fromHex, hex } from '../../helpers/codec-fixtures';

describe('isValidCloseCode (RFC 6455 §7.4)', () => {
  const VALID = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3001, 3999, 4000, 4500, 4999];
  const INVALID = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 5001, 65535, -1000, NaN];

  test.each(VALID.map((c) => [c]))('%d may be sent', (code) => {
    expect(isValidCloseCode(code)).toBe(true);
  });

  test.each(INVALID.map((c) => [c]))('%d may not be sent', (code) => {
    expect(isValidCloseCode(code)).toBe(false);
  });

  test('the whole 16-bit range: exactly 1000-1003, 1007-1014 and 3000-4999', () => {
    const valid: number[] = [];
    for (let code = 0; code <= 0xffff; code++) if (isValidCloseCode(code)) valid.push(code);
    expect(valid.length).toBe(4 + 8 + 2000);
    expect(valid.slice(0, 12)).toEqual([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]);
    expect(valid[12]).toBe(3000);
    expect(valid[valid.length - 1]).toBe(4999);
  });
});

describe('parseClosePayload', () => {
  test('an empty body means "no status code": 1005, hasCode false', () => {
    const parsed = parseClosePayload(Buffer.alloc(0));
    expect(parsed).not.toBeNull();
    expect(parsed!.code).toBe(1005);
    expect(parsed!.hasCode).toBe(false);
    expect(parsed!.reason.length).toBe(0);
  });

  test('a 1-byte body is illegal: null', () => {
    expect(parseClosePayload(fromHex('03'))).toBeNull();
  });

  test('a code alone', () => {
    const parsed = parseClosePayload(fromHex('03 e8'))!;
    expect([parsed.code, parsed.hasCode, parsed.reason.length]).toEqual([1000, true, 0]);
  });

  test('a code and a reason', () => {
    const parsed = parseClosePayload(Buffer.concat([fromHex('0f a0'), Buffer.from('going away, €')]))!;
    expect(parsed.code).toBe(4000);
    expect(parsed.hasCode).toBe(true);
    expect(parsed.reason.toString('utf8')).toBe('going away, €');
  });

  test('codes are read big-endian and not validated here', () => {
    expect(parseClosePayload(fromHex('ff ff'))!.code).toBe(65535);
    expect(parseClosePayload(fromHex('00 00'))!.code).toBe(0);
    expect(parseClosePayload(fromHex('03 ed'))!.code).toBe(1005);
  });

  test('the reason bytes are returned raw, even when not UTF-8 (the caller validates)', () => {
    const parsed = parseClosePayload(fromHex('03 e8 ff fe'))!;
    expect(hex(parsed.reason)).toBe('fffe');
  });
});

describe('encodeClosePayload', () => {
  test('code only', () => {
    expect(hex(encodeClosePayload(1000))).toBe('03e8');
    expect(hex(encodeClosePayload(4999, ''))).toBe('1387');
  });

  test('code and reason', () => {
    expect(hex(encodeClosePayload(1001, 'bye'))).toBe('03e9' + Buffer.from('bye').toString('hex'));
    expect(encodeClosePayload(3000, 'κόσμε').subarray(2).toString('utf8')).toBe('κόσμε');
  });

  test('round-trips through parseClosePayload', () => {
    const parsed = parseClosePayload(encodeClosePayload(1011, 'server error'))!;
    expect([parsed.code, parsed.reason.toString()]).toEqual([1011, 'server error']);
  });

  test('a reason of exactly 123 bytes is kept whole; 124 bytes are cut to 123', () => {
    expect(MAX_CLOSE_REASON).toBe(123);
    expect(encodeClosePayload(1000, 'a'.repeat(123)).length).toBe(125);
    const cut = encodeClosePayload(1000, 'a'.repeat(124));
    expect(cut.length).toBe(125);
    expect(cut.subarray(2).toString()).toBe('a'.repeat(123));
    expect(encodeClosePayload(1000, 'b'.repeat(1000)).length).toBe(125);
  });

  /** The longest prefix of whole characters that fits in 123 bytes. */
  function longestFittingPrefix(reason: string): string {
    let out = '';
    for (const ch of reason) {
      if (Buffer.byteLength(out + ch) > 123) break;
      out += ch;
    }
    return out;
  }

  test.each([
    ['2-byte characters (123 is odd)', 'é'.repeat(100)],
    ['3-byte characters (123 = 41 × 3)', '€'.repeat(50)],
    ['4-byte characters', '😀'.repeat(40)],
    ['4-byte characters shifted by 1', 'a' + '😀'.repeat(40)],
    ['4-byte characters shifted by 2', 'ab' + '😀'.repeat(40)],
    ['4-byte characters shifted by 3', 'abc' + '😀'.repeat(40)],
    ['mixed', 'x€é😀'.repeat(20)],
  ])('reasons are cut without splitting a character: %s', (_name, reason) => {
    const body = encodeClosePayload(1000, reason);
    const text = body.subarray(2);
    expect(text.length).toBeLessThanOrEqual(123);
    expect(isValidUtf8(text)).toBe(true);
    expect(text.toString('utf8')).toBe(longestFittingPrefix(reason));
  });

  test('the input reason is not modified and the code is written big-endian', () => {
    const body = encodeClosePayload(0x0bb8, 'x');
    expect(hex(body)).toBe('0bb878');
  });
});

describe('truncateUtf8', () => {
  test('short data is returned as is', () => {
    const data = Buffer.from('abc');
    expect(truncateUtf8(data, 3)).toBe(data);
    expect(truncateUtf8(data, 10)).toBe(data);
  });

  test('cuts land on character boundaries', () => {
    const data = Buffer.from('a€b'); // 61 e2 82 ac 62
    expect(truncateUtf8(data, 4).toString()).toBe('a€');
    expect(truncateUtf8(data, 3).toString()).toBe('a');
    expect(truncateUtf8(data, 2).toString()).toBe('a');
    expect(truncateUtf8(data, 1).toString()).toBe('a');
    expect(truncateUtf8(data, 0).length).toBe(0);
  });
});
