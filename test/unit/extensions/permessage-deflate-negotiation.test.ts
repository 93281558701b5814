/**
 * permessage-deflate parameter negotiation (RFC 7692 §5, §7.1) on both ends: the server's choice
 * among offers and its answer, the client's offer, the client's check of the answer, and the
 * `connection.extensions` description read back by the connection.
 */
import { parseExtensionHeader } from '../../../lib/extensions/extension-header';
import {
  acceptOffer,
  acceptResponse,
  acceptServerExtensions,
  deflateOptionsFrom,
  describeParams,
  formatClientOffer,
  negotiateOffers,
  paramsFromExtension,
  type DeflateOptions,
  type DeflateParams,
} from '../../../lib/extensions/deflate-negotiation';

const DEFAULT_PARAMS: DeflateParams = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};
const p = (overrides: Partial<DeflateParams>): DeflateParams => ({ ...DEFAULT_PARAMS, ...overrides });

/** The one element of a header (the tests write well-formed ones). */
function element(header: string) {
  const parsed = parseExtensionHeader(header);
  if (parsed === null || parsed.length !== 1) throw new Error(`bad test header ${header}`);
  return parsed[0]!;
}

/** The parameters of the response text, as a sorted list, so order does not matter. */
function responseParams(response: string): string[] {
  const [first] = parseExtensionHeader(response) ?? [];
  if (first === undefined) throw new Error(`unparsable response ${response}`);
  expect(first.name).toBe('permessage-deflate');
  return first.params.map(([k, v]) => (v === true ? k : `${k}=${v}`)).sort();
}

describe('deflateOptionsFrom', () => {
  test('true and objects enable; everything else disables', () => {
    expect(deflateOptionsFrom(true)).toEqual({});
    const options = { threshold: 5 };
    expect(deflateOptionsFrom(options)).toBe(options);
    for (const off of [false, undefined, null, 0, 1, 'yes']) expect(deflateOptionsFrom(off)).toBeNull();
  });
});

describe('server: acceptOffer / negotiateOffers', () => {
  test('a bare offer is accepted with the defaults and answered bare', () => {
    expect(negotiateOffers('permessage-deflate', {})).toEqual({ response: 'permessage-deflate', params: DEFAULT_PARAMS });
    expect(acceptOffer(element('permessage-deflate'), {})).toEqual(DEFAULT_PARAMS);
  });

  test('an offer with every parameter is honoured', () => {
    const agreed = negotiateOffers(
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11',
      {},
    );
    expect(agreed?.params).toEqual(p({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 11 }));
    expect(responseParams(agreed!.response)).toEqual(
      ['client_max_window_bits=11', 'client_no_context_takeover', 'server_max_window_bits=10', 'server_no_context_takeover'].sort(),
    );
  });

  describe('declined offers (RFC 7692 §5: the server MUST decline an invalid offer)', () => {
    test.each([
      ['an unknown parameter', 'permessage-deflate; foo'],
      ['an unknown parameter with a value', 'permessage-deflate; foo=1'],
      ['a duplicate parameter', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover'],
      ['a duplicate window parameter', 'permessage-deflate; client_max_window_bits; client_max_window_bits=10'],
      ['a duplicate window parameter with the same value', 'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10'],
      ['server_no_context_takeover with a value', 'permessage-deflate; server_no_context_takeover=1'],
      ['client_no_context_takeover with a value', 'permessage-deflate; client_no_context_takeover=true'],
      ['server_max_window_bits without a value', 'permessage-deflate; server_max_window_bits'],
      ['server_max_window_bits=7', 'permessage-deflate; server_max_window_bits=7'],
      ['server_max_window_bits=16', 'permessage-deflate; server_max_window_bits=16'],
      ['server_max_window_bits=0', 'permessage-deflate; server_max_window_bits=0'],
      ['server_max_window_bits=abc', 'permessage-deflate; server_max_window_bits=abc'],
      ['server_max_window_bits=-9', 'permessage-deflate; server_max_window_bits=-9'],
      ['server_max_window_bits=9.0', 'permessage-deflate; server_max_window_bits=9.0'],
      ['server_max_window_bits=+9', 'permessage-deflate; server_max_window_bits=+9'],
      ['server_max_window_bits=010', 'permessage-deflate; server_max_window_bits=010'],
      ['client_max_window_bits=7', 'permessage-deflate; client_max_window_bits=7'],
      ['client_max_window_bits=16', 'permessage-deflate; client_max_window_bits=16'],
      ['client_max_window_bits=abc', 'permessage-deflate; client_max_window_bits=abc'],
      ['quoted client_max_window_bits="16"', 'permessage-deflate; client_max_window_bits="16"'],
    ])('%s', (_what, header) => {
      expect(negotiateOffers(header, {})).toBeNull();
      expect(acceptOffer(element(header), {})).toBeNull();
    });

    // RFC 7692 §7.1.2.1/§7.1.2.2: "a decimal integer value without leading zeroes between 8 to 15".
    test.each([
      ['server_max_window_bits=08', 'permessage-deflate; server_max_window_bits=08'],
      ['client_max_window_bits=09', 'permessage-deflate; client_max_window_bits=09'],
    ])('a value with a leading zero: %s', (_what, header) => {
      expect(negotiateOffers(header, {})).toBeNull();
    });
  });

  describe('window bits values that are valid (RFC 7692 §7.1.2)', () => {
    test.each([8, 9, 10, 11, 12, 13, 14, 15])('server_max_window_bits=%i is accepted and answered with the same value', (bits) => {
      const agreed = negotiateOffers(`permessage-deflate; server_max_window_bits=${bits}`, {});
      expect(agreed?.params.serverMaxWindowBits).toBe(bits);
      // §7.1.2.1: the server accepts the parameter by including it in its response.
      expect(responseParams(agreed!.response)).toEqual([`server_max_window_bits=${bits}`]);
    });

    test.each([8, 9, 10, 11, 12, 13, 14, 15])('client_max_window_bits=%i is accepted', (bits) => {
      const agreed = negotiateOffers(`permessage-deflate; client_max_window_bits=${bits}`, {});
      expect(agreed?.params.clientMaxWindowBits).toBe(bits);
      // An answered value must not exceed the offered one (§7.1.2.2).
      for (const param of responseParams(agreed!.response)) {
        if (param.startsWith('client_max_window_bits=')) expect(Number(param.split('=')[1])).toBeLessThanOrEqual(bits);
      }
    });

    test('a quoted value is unquoted first (RFC 7692 §7.1.2.1: "after quoted-string unescaping")', () => {
      const agreed = negotiateOffers('permessage-deflate; server_max_window_bits="10"; client_max_window_bits="12"', {});
      expect(agreed?.params).toEqual(p({ serverMaxWindowBits: 10, clientMaxWindowBits: 12 }));
      expect(responseParams(agreed!.response)).toContain('server_max_window_bits=10');
    });

    test('client_max_window_bits without a value is a valid offer (the client can take a limit)', () => {
      expect(negotiateOffers('permessage-deflate; client_max_window_bits', {})).toEqual({
        response: 'permessage-deflate',
        params: DEFAULT_PARAMS,
      });
    });
  });

  describe('several offers (RFC 7692 §5: in order of preference)', () => {
    test('the first acceptable offer wins', () => {
      const agreed = negotiateOffers(
        'permessage-deflate; server_max_window_bits=10, permessage-deflate; server_max_window_bits=12, permessage-deflate',
        {},
      );
      expect(agreed?.params.serverMaxWindowBits).toBe(10);
    });

    test('unacceptable offers are skipped', () => {
      const agreed = negotiateOffers(
        'permessage-deflate; foo, permessage-deflate; server_max_window_bits=16, permessage-deflate; server_no_context_takeover; server_no_context_takeover, permessage-deflate; server_max_window_bits=11, permessage-deflate',
        {},
      );
      expect(agreed?.params).toEqual(p({ serverMaxWindowBits: 11 }));
      expect(agreed?.response).toBe('permessage-deflate; server_max_window_bits=11');
    });

    test('other extensions are ignored', () => {
      const agreed = negotiateOffers('x-webkit-deflate-frame, foo; bar=1, permessage-deflate; client_no_context_takeover, baz', {});
      expect(agreed?.params).toEqual(p({ clientNoContextTakeover: true }));
      expect(agreed?.response).toBe('permessage-deflate; client_no_context_takeover');
    });

    test('no permessage-deflate offer, or none acceptable: no agreement', () => {
      expect(negotiateOffers('x-webkit-deflate-frame', {})).toBeNull();
      expect(negotiateOffers('permessage-deflate; a, permessage-deflate; b', {})).toBeNull();
      expect(negotiateOffers('permessage-deflate;;', {})).toBeNull();
    });

    test('an offer needing client_max_window_bits is skipped for a later one that has it', () => {
      const agreed = negotiateOffers('permessage-deflate, permessage-deflate; client_max_window_bits', { clientMaxWindowBits: 10 });
      expect(agreed?.params.clientMaxWindowBits).toBe(10);
      expect(agreed?.response).toBe('permessage-deflate; client_max_window_bits=10');
    });
  });

  describe('server options', () => {
    test('serverNoContextTakeover adds server_no_context_takeover even when not offered (§7.1.1.1)', () => {
      const agreed = negotiateOffers('permessage-deflate', { serverNoContextTakeover: true });
      expect(agreed?.params).toEqual(p({ serverNoContextTakeover: true }));
      expect(agreed?.response).toBe('permessage-deflate; server_no_context_takeover');
    });

    test('clientNoContextTakeover adds client_no_context_takeover even when not offered (§7.1.1.2)', () => {
      const agreed = negotiateOffers('permessage-deflate', { clientNoContextTakeover: true });
      expect(agreed?.params).toEqual(p({ clientNoContextTakeover: true }));
      expect(agreed?.response).toBe('permessage-deflate; client_no_context_takeover');
    });

    test('both no-context-takeover options together', () => {
      const agreed = negotiateOffers('permessage-deflate', { serverNoContextTakeover: true, clientNoContextTakeover: true });
      expect(responseParams(agreed!.response)).toEqual(['client_no_context_takeover', 'server_no_context_takeover']);
    });

    test('false options leave offered no-context-takeover parameters in force', () => {
      const agreed = negotiateOffers('permessage-deflate; server_no_context_takeover; client_no_context_takeover', {
        serverNoContextTakeover: false,
        clientNoContextTakeover: false,
      });
      expect(agreed?.params).toEqual(p({ serverNoContextTakeover: true, clientNoContextTakeover: true }));
    });

    test.each<[string, number | undefined, number, string | null]>([
      // [offer, own serverMaxWindowBits, agreed, answered value]
      ['permessage-deflate; server_max_window_bits=12', undefined, 12, '12'],
      ['permessage-deflate; server_max_window_bits=12', 10, 10, '10'],
      ['permessage-deflate; server_max_window_bits=9', 12, 9, '9'],
      ['permessage-deflate; server_max_window_bits=15', 15, 15, '15'],
      ['permessage-deflate; server_max_window_bits=8', 9, 8, '8'],
      // Not offered: the server may still announce a smaller window of its own (§7.1.2.1).
      ['permessage-deflate', 10, 10, '10'],
      ['permessage-deflate', undefined, 15, null],
      ['permessage-deflate', 15, 15, null],
    ])('%s with serverMaxWindowBits %s: window %i', (offer, own, agreedBits, answered) => {
      const options: DeflateOptions = own === undefined ? {} : { serverMaxWindowBits: own };
      const agreed = negotiateOffers(offer, options);
      expect(agreed?.params.serverMaxWindowBits).toBe(agreedBits);
      const params = responseParams(agreed!.response).filter((x) => x.startsWith('server_max_window_bits'));
      expect(params).toEqual(answered === null ? [] : [`server_max_window_bits=${answered}`]);
    });

    test.each<[string, number | undefined, number, string | null]>([
      // [offer, own clientMaxWindowBits, agreed, answered value]
      ['permessage-deflate; client_max_window_bits', 10, 10, '10'],
      ['permessage-deflate; client_max_window_bits', undefined, 15, null],
      ['permessage-deflate; client_max_window_bits=12', 10, 10, '10'],
      ['permessage-deflate; client_max_window_bits=9', 12, 9, '9'],
      ['permessage-deflate; client_max_window_bits=9', undefined, 9, '9'],
    ])('%s with clientMaxWindowBits %s: window %i', (offer, own, agreedBits, answered) => {
      const options: DeflateOptions = own === undefined ? {} : { clientMaxWindowBits: own };
      const agreed = negotiateOffers(offer, options);
      expect(agreed?.params.clientMaxWindowBits).toBe(agreedBits);
      const params = responseParams(agreed!.response).filter((x) => x.startsWith('client_max_window_bits'));
      expect(params).toEqual(answered === null ? [] : [`client_max_window_bits=${answered}`]);
    });

    test('clientMaxWindowBits is never answered to a client that did not offer client_max_window_bits (§7.1.2.2)', () => {
      for (const own of [8, 9, 10, 14]) {
        const agreed = negotiateOffers('permessage-deflate; server_no_context_takeover', { clientMaxWindowBits: own });
        // Declining or accepting without the limit are both correct; answering it is not.
        if (agreed !== null) {
          expect(agreed.response).not.toContain('client_max_window_bits');
          expect(agreed.params.clientMaxWindowBits).toBe(15);
        }
      }
    });

    test('option values outside 8-15 are ignored', () => {
      for (const bad of [7, 16, 0, 9.5, Number.NaN]) {
        const agreed = negotiateOffers('permessage-deflate; client_max_window_bits', { serverMaxWindowBits: bad, clientMaxWindowBits: bad });
        expect(agreed?.params).toEqual(DEFAULT_PARAMS);
      }
    });

    test('every answer parses back as a valid response for the offering client', () => {
      const offers: Array<[string, DeflateOptions]> = [];
      for (const snct of [false, true])
        for (const cnct of [false, true])
          for (const sbits of [undefined, 9, 12, 15])
            for (const cbits of [undefined, 10, 15]) offers.push([formatClientOffer({ serverNoContextTakeover: snct, clientNoContextTakeover: cnct, serverMaxWindowBits: sbits, clientMaxWindowBits: cbits }), { serverNoContextTakeover: snct, clientNoContextTakeover: cnct, serverMaxWindowBits: sbits, clientMaxWindowBits: cbits }]);
      const serverOptions: DeflateOptions[] = [{}, { serverNoContextTakeover: true }, { clientNoContextTakeover: true }, { serverMaxWindowBits: 9 }, { clientMaxWindowBits: 10 }, { serverMaxWindowBits: 11, clientMaxWindowBits: 9, serverNoContextTakeover: true }];
      for (const [offer, clientOptions] of offers) {
        for (const options of serverOptions) {
          const agreed = negotiateOffers(offer, options);
          expect(agreed).not.toBeNull();
          // Both ends must end up with the same parameters.
          expect(acceptServerExtensions(agreed!.response, clientOptions)).toEqual(agreed!.params);
        }
      }
    });
  });
});

describe('client: formatClientOffer', () => {
  test('the default offer invites the server to limit our window', () => {
    expect(formatClientOffer({})).toBe('permessage-deflate; client_max_window_bits');
  });

  test('every option goes into the offer', () => {
    expect(
      formatClientOffer({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 9 }),
    ).toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9');
  });

  test('out-of-range bits and false flags are left out', () => {
    expect(
      formatClientOffer({ serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 16, clientMaxWindowBits: 7 }),
    ).toBe('permessage-deflate; client_max_window_bits');
  });

  test('an offer is always one acceptable element', () => {
    for (const sbits of [undefined, 8, 15]) {
      for (const cbits of [undefined, 8, 15]) {
        const offer = formatClientOffer({ serverMaxWindowBits: sbits, clientMaxWindowBits: cbits, serverNoContextTakeover: true });
        const elements = parseExtensionHeader(offer);
        expect(elements).toHaveLength(1);
        expect(acceptOffer(elements![0]!, {})).not.toBeNull();
      }
    }
  });
});

describe('client: acceptResponse / acceptServerExtensions', () => {
  test('a bare answer gives the defaults, with our own client-side choices', () => {
    expect(acceptServerExtensions('permessage-deflate', {})).toEqual(DEFAULT_PARAMS);
    expect(acceptServerExtensions('permessage-deflate', { clientNoContextTakeover: true, clientMaxWindowBits: 10 })).toEqual(
      p({ clientNoContextTakeover: true, clientMaxWindowBits: 10 }),
    );
  });

  test('parameters the server may add on its own are accepted', () => {
    expect(acceptServerExtensions('permessage-deflate; server_no_context_takeover; client_no_context_takeover', {})).toEqual(
      p({ serverNoContextTakeover: true, clientNoContextTakeover: true }),
    );
    expect(acceptServerExtensions('permessage-deflate; server_max_window_bits=9', {})).toEqual(p({ serverMaxWindowBits: 9 }));
    expect(acceptServerExtensions('permessage-deflate; client_max_window_bits=10', {})).toEqual(p({ clientMaxWindowBits: 10 }));
    expect(acceptServerExtensions('permessage-deflate; server_max_window_bits="12"', {})).toEqual(p({ serverMaxWindowBits: 12 }));
  });

  test('window bits at or below our offer are accepted', () => {
    expect(acceptServerExtensions('permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 10 })).toEqual(p({ serverMaxWindowBits: 10 }));
    expect(acceptServerExtensions('permessage-deflate; server_max_window_bits=8', { serverMaxWindowBits: 10 })).toEqual(p({ serverMaxWindowBits: 8 }));
    expect(acceptServerExtensions('permessage-deflate; client_max_window_bits=9', { clientMaxWindowBits: 12 })).toEqual(p({ clientMaxWindowBits: 9 }));
  });

  test.each<[string, string, DeflateOptions | null, RegExp]>([
    ['an unknown parameter', 'permessage-deflate; foo', {}, /unexpected parameter foo/],
    ['a repeated parameter', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover', {}, /repeated parameter/],
    ['a flag with a value', 'permessage-deflate; server_no_context_takeover=1', {}, /unexpected parameter server_no_context_takeover/],
    ['server_max_window_bits above our offer', 'permessage-deflate; server_max_window_bits=12', { serverMaxWindowBits: 10 }, /server_max_window_bits above the offer/],
    ['client_max_window_bits above our offer', 'permessage-deflate; client_max_window_bits=12', { clientMaxWindowBits: 10 }, /client_max_window_bits above the offer/],
    ['server_max_window_bits out of range', 'permessage-deflate; server_max_window_bits=16', {}, /server_max_window_bits/],
    ['server_max_window_bits=7', 'permessage-deflate; server_max_window_bits=7', {}, /server_max_window_bits/],
    ['server_max_window_bits without a value', 'permessage-deflate; server_max_window_bits', {}, /server_max_window_bits/],
    ['client_max_window_bits without a value (§7.1.2.2: the answer has one)', 'permessage-deflate; client_max_window_bits', {}, /client_max_window_bits/],
    ['client_max_window_bits=abc', 'permessage-deflate; client_max_window_bits=abc', {}, /client_max_window_bits/],
    ['missing server_no_context_takeover we required', 'permessage-deflate', { serverNoContextTakeover: true }, /server_no_context_takeover was required/],
    ['an extension we did not offer', 'x-webkit-deflate-frame', {}, /did not offer: x-webkit-deflate-frame/],
    ['an extension when we offered none', 'permessage-deflate', null, /not offered/],
    ['two elements', 'permessage-deflate, permessage-deflate', {}, /not offered/],
    ['a malformed header', 'permessage-deflate;', {}, /Invalid Sec-WebSocket-Extensions/],
  ])('%s fails the handshake', (_what, header, options, message) => {
    const result = acceptServerExtensions(header, options);
    expect(typeof result).toBe('string');
    expect(result).toMatch(message);
  });

  // RFC 7692 §7.1.2: "a decimal integer value without leading zeroes"; §5.1: the client fails on invalid values.
  test.each(['permessage-deflate; server_max_window_bits=09', 'permessage-deflate; client_max_window_bits=09'])(
    'a value with a leading zero fails the handshake: %s',
    (header) => {
      expect(typeof acceptServerExtensions(header, {})).toBe('string');
    },
  );

  test('acceptResponse checks the name itself', () => {
    expect(acceptResponse(element('x-foo'), {})).toMatch(/did not offer/);
    expect(acceptResponse(element('permessage-deflate'), {})).toEqual(DEFAULT_PARAMS);
  });
});

describe('connection.extensions value: describeParams / paramsFromExtension', () => {
  test('the defaults have an empty value', () => {
    expect(describeParams(DEFAULT_PARAMS)).toEqual({ name: 'permessage-deflate', value: '' });
  });

  test('every parameter combination round-trips', () => {
    for (const serverNoContextTakeover of [false, true]) {
      for (const clientNoContextTakeover of [false, true]) {
        for (let serverMaxWindowBits = 8; serverMaxWindowBits <= 15; serverMaxWindowBits++) {
          for (let clientMaxWindowBits = 8; clientMaxWindowBits <= 15; clientMaxWindowBits++) {
            const params = { serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits };
            const described = describeParams(params);
            expect(described.name).toBe('permessage-deflate');
            expect(paramsFromExtension(described)).toEqual(params);
          }
        }
      }
    }
  });

  test('the value names what was agreed', () => {
    expect(describeParams(p({ serverNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 10 })).value).toBe(
      'server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10',
    );
  });

  test('entries that are not a valid agreement give null', () => {
    expect(paramsFromExtension({ name: 'x-foo', value: '' })).toBeNull();
    expect(paramsFromExtension({ name: 'permessage-deflate', value: 'foo' })).toBeNull();
    expect(paramsFromExtension({ name: 'permessage-deflate', value: 'server_max_window_bits=16' })).toBeNull();
    expect(paramsFromExtension({ name: 'permessage-deflate', value: 'client_max_window_bits' })).toBeNull();
  });

  test('a missing or spaced value is read leniently', () => {
    expect(paramsFromExtension({ name: 'permessage-deflate' })).toEqual(DEFAULT_PARAMS);
    expect(paramsFromExtension({ name: 'permessage-deflate', value: ' server_no_context_takeover ;  server_max_window_bits = 9 ;' })).toEqual(
      p({ serverNoContextTakeover: true, serverMaxWindowBits: 9 }),
    );
  });
});
