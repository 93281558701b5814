/** Parsing of the handshake's list-valued headers, with WebSocket-Node's result shapes. */

/** One parameter of an extension offer, as WebSocket-Node reports it. */
export interface ExtensionParam {
  name: string;
  value?: string;
}

/** One extension offer: `{ name, params }` (WebSocket-Node's `requestedExtensions` entries). */
export interface ExtensionOffer {
  name: string;
  params: ExtensionParam[];
}

/**
 * WebSocket-Node's `parseExtensions`: lower-cases the header, splits offers on commas and
 * parameters on semicolons; `k=v` gives `{name, value}`, a bare `k` gives `{name}`. Quotes are kept.
 */
export function parseExtensionList(header: string | undefined | null): ExtensionOffer[] {
  if (header === undefined || header === null || header.length === 0) return [];
  return header
    .toLocaleLowerCase()
    .split(/,\s*/)
    .map((offer) => {
      const [name = '', ...rawParams] = offer.split(/;\s*/);
      const params = rawParams.map((raw): ExtensionParam => {
        const parts = raw.split('=');
        const param: ExtensionParam = { name: parts[0] ?? '' };
        // compat: WebSocket-Node sets `value` to undefined for a bare parameter; the key is left out here,
        // which reads the same.
        if (parts[1] !== undefined) param.value = parts[1];
        return param;
      });
      return { name, params };
    });
}

/** Splits `Sec-WebSocket-Protocol` / X-Forwarded-For style lists on commas (WebSocket-Node's `/,\s*\/`). */
export function splitHeaderList(header: string): string[] {
  return header.split(/,\s*/);
}

// RFC 2616 §2.2 separators, which may not appear in a token such as a subprotocol name (RFC 6455 §4.1).
const SEPARATORS = '()<>@,;:\\"/[]?={} \t';

/** The first character of `name` that may not appear in a subprotocol token, or null when it is a token. */
export function findIllegalTokenChar(name: string): string | null {
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    const ch = name.charAt(i);
    if (code < 0x21 || code > 0x7e || SEPARATORS.includes(ch)) return ch;
  }
  return null;
}

/** Removes CR and LF, so no value can split an HTTP header. */
export function stripCrLf(value: string): string {
  return value.replace(/[\r\n]/g, '');
}

/** A single header value: Node gives arrays only for a few header names; they are joined as a list. */
export function headerString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Whether `text` at `at` equals the lower-case ASCII `token`, ignoring ASCII case. */
export function equalsLowerCase(text: string, at: number, token: string): boolean {
  for (let i = 0; i < token.length; i++) {
    let code = text.charCodeAt(at + i);
    if (code >= 0x41 && code <= 0x5a) code += 0x20;
    if (code !== token.charCodeAt(i)) return false;
  }
  return true;
}
