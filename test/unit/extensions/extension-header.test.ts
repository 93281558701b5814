/**
 * Sec-WebSocket-Extensions parsing (RFC 6455 §9.1, RFC 7230 tokens and quoted strings): what is
 * accepted, what is refused as a whole (null), and that hostile input cannot make it slow.
 */
import { formatExtension, parseExtensionHeader, type ExtensionElement } from '../../../lib/extensions/extension-header';
import { negotiateOffers } from '../../../lib/extensions/deflate-negotiation';

const el = (name: string, ...params: Array<[string, string | true]>): ExtensionElement => ({ name, params });

describe('parseExtensionHeader: well-formed values', () => {
  test.each<[string, ExtensionElement[]]>([
    ['permessage-deflate', [el('permessage-deflate')]],
    ['permessage-deflate; client_max_window_bits', [el('permessage-deflate', ['client_max_window_bits', true])]],
    ['permessage-deflate; server_max_window_bits=10', [el('permessage-deflate', ['server_max_window_bits', '10'])]],
    [
      'permessage-deflate;server_no_context_takeover;client_no_context_takeover',
      [el('permessage-deflate', ['server_no_context_takeover', true], ['client_no_context_takeover', true])],
    ],
    // Names and parameter names are case-insensitive tokens; values are kept as sent.
    ['PerMessage-Deflate; Client_Max_Window_Bits=Ab', [el('permessage-deflate', ['client_max_window_bits', 'Ab'])]],
    // Any tchar is allowed in a token.
    ["x!#$%&'*+-.^_`|~9; k=v!#$%&'*+-.^_`|~", [el("x!#$%&'*+-.^_`|~9", ['k', "v!#$%&'*+-.^_`|~"])]],
  ])('%j', (header, expected) => {
    expect(parseExtensionHeader(header)).toEqual(expected);
  });

  test('quoted values are unquoted (RFC 6455 §9.1: they must still be tokens)', () => {
    expect(parseExtensionHeader('permessage-deflate; server_max_window_bits="10"')).toEqual([
      el('permessage-deflate', ['server_max_window_bits', '10']),
    ]);
    // A quoted-pair stands for the character after the backslash.
    expect(parseExtensionHeader('a; b="1\\0"')).toEqual([el('a', ['b', '10'])]);
    expect(parseExtensionHeader('a; b="x", c')).toEqual([el('a', ['b', 'x']), el('c')]);
  });

  test('optional whitespace (spaces and tabs) around every separator', () => {
    const header = ' \t permessage-deflate \t;\t client_max_window_bits \t= \t10 \t, \tx-foo ; bar = "baz" \t';
    expect(parseExtensionHeader(header)).toEqual([
      el('permessage-deflate', ['client_max_window_bits', '10']),
      el('x-foo', ['bar', 'baz']),
    ]);
  });

  test('several offers keep their order, repeated names and parameters included', () => {
    const header =
      'permessage-deflate; server_no_context_takeover; server_max_window_bits=9, permessage-deflate; client_max_window_bits, x-webkit-deflate-frame, permessage-deflate; a; a';
    expect(parseExtensionHeader(header)).toEqual([
      el('permessage-deflate', ['server_no_context_takeover', true], ['server_max_window_bits', '9']),
      el('permessage-deflate', ['client_max_window_bits', true]),
      el('x-webkit-deflate-frame'),
      el('permessage-deflate', ['a', true], ['a', true]),
    ]);
  });
});

describe('parseExtensionHeader: malformed values give null', () => {
  test.each([
    '',
    ' ',
    ',',
    ',permessage-deflate',
    'permessage-deflate,',
    'permessage-deflate, ',
    'a,,b',
    'permessage-deflate;',
    'permessage-deflate; ',
    'permessage-deflate;;client_max_window_bits',
    'permessage-deflate; =10',
    'permessage-deflate; server_max_window_bits=',
    'permessage-deflate; server_max_window_bits= ',
    'permessage-deflate; server_max_window_bits=1 0',
    'permessage-deflate; server_max_window_bits==10',
    'permessage-deflate; server_max_window_bits="10',
    'permessage-deflate; server_max_window_bits="10"x',
    'permessage-deflate; server_max_window_bits=""',
    'permessage-deflate; server_max_window_bits="1 0"',
    'permessage-deflate; server_max_window_bits="1,0"',
    'permessage-deflate; server_max_window_bits=@',
    'permessage deflate',
    'permessage-deflate client_max_window_bits',
    '@permessage-deflate',
    '"permessage-deflate"',
    'permessage-deflate; client_max_window_bits\r\n',
    'permessage-déflate',
  ])('%j', (header) => {
    expect(parseExtensionHeader(header)).toBeNull();
  });
});

describe('parseExtensionHeader: hostile 100 KB headers complete (one linear pass)', () => {
  const N = 100 * 1024;
  const cases: Array<[string, string, 'null' | 'array']> = [
    ['spaces only', ' '.repeat(N), 'null'],
    ['tabs then a name', '\t'.repeat(N) + 'a', 'array'],
    ['one long token', 'a'.repeat(N), 'array'],
    ['an unterminated quoted string', 'a; b="' + 'x'.repeat(N), 'null'],
    ['an unterminated quoted string of escapes', 'a; b="' + '\\x'.repeat(N / 2), 'null'],
    ['a terminated quoted string of escapes', 'a; b="' + '\\x'.repeat(N / 2) + '"', 'array'],
    ['a quoted string of non-tokens', 'a; b="' + ' '.repeat(N) + '"', 'null'],
    ['many elements', 'a,'.repeat(N / 2) + 'a', 'array'],
    ['many elements, trailing comma', 'a,'.repeat(N / 2), 'null'],
    ['many parameters', 'a' + ';b'.repeat(N / 2), 'array'],
    ['many parameters, trailing semicolon', 'a' + ';b'.repeat(N / 2) + ';', 'null'],
    ['many key=value parameters', 'a' + '; b=1'.repeat(N / 5), 'array'],
    ['semicolons only', ';'.repeat(N), 'null'],
    ['equals signs', 'a; b' + '='.repeat(N), 'null'],
    ['many quotes', 'a; b=' + '"'.repeat(N), 'null'],
    ['many empty quoted values', 'a' + '; b=""'.repeat(N / 6), 'null'],
    ['permessage-deflate offers', 'permessage-deflate; client_max_window_bits, '.repeat(N / 44) + 'x', 'array'],
  ];
  test.each(cases)('%s', (_what, header, kind) => {
    const result = parseExtensionHeader(header);
    if (kind === 'null') expect(result).toBeNull();
    else expect(Array.isArray(result)).toBe(true);
    // The server negotiates straight from the header: that must finish too.
    const agreed = negotiateOffers(header, {});
    if (header.startsWith('permessage-deflate')) expect(agreed).not.toBeNull();
    else expect(agreed).toBeNull();
  });
});

describe('formatExtension', () => {
  test('writes parameters with and without values, and parses back to the same element', () => {
    const element = el('permessage-deflate', ['server_no_context_takeover', true], ['server_max_window_bits', '10'], ['client_max_window_bits', true]);
    const text = formatExtension(element);
    expect(text).toBe('permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits');
    expect(parseExtensionHeader(text)).toEqual([element]);
    expect(formatExtension(el('x'))).toBe('x');
  });
});
