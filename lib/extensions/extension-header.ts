/**
 * Sec-WebSocket-Extensions grammar (RFC 6455 §9.1 with RFC 7230 tokens and quoted strings), parsed in
 * one linear pass whatever the input, for negotiation. (The WebSocket-Node-shaped `requestedExtensions`
 * list comes from handshake/header-values instead.)
 */

/** One offer or response element: a name and its parameters in order (a value of true means "no value"). */
export interface ExtensionElement {
  readonly name: string;
  readonly params: ReadonlyArray<readonly [string, string | true]>;
}

const TOKEN_CHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/;

/** Parses a header value into elements; returns null when it is not well-formed. */
export function parseExtensionHeader(header: string): ExtensionElement[] | null {
  const elements: ExtensionElement[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = (): void => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TOKEN_CHAR.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  while (true) {
    skipSpace();
    const name = readToken();
    if (name === '') return null;
    const params: Array<readonly [string, string | true]> = [];
    skipSpace();
    while (i < n && header[i] === ';') {
      i++;
      skipSpace();
      const key = readToken();
      if (key === '') return null;
      skipSpace();
      let value: string | true = true;
      if (i < n && header[i] === '=') {
        i++;
        skipSpace();
        if (header[i] === '"') {
          i++;
          let text = '';
          while (i < n && header[i] !== '"') {
            if (header[i] === '\\') i++;
            if (i < n) text += header[i];
            i++;
          }
          if (i >= n) return null;
          i++;
          // RFC 6455 §9.1: a quoted value must still be a token once unquoted.
          if (text === '' || ![...text].every((ch) => TOKEN_CHAR.test(ch))) return null;
          value = text;
        } else {
          value = readToken();
          if (value === '') return null;
        }
        skipSpace();
      }
      params.push([key.toLowerCase(), value]);
    }
    elements.push({ name: name.toLowerCase(), params });
    skipSpace();
    if (i >= n) return elements;
    if (header[i] !== ',') return null;
    i++;
  }
}

/** Formats one element as it goes in a header. */
export function formatExtension(element: ExtensionElement): string {
  let text = element.name;
  for (const [key, value] of element.params) text += value === true ? `; ${key}` : `; ${key}=${value}`;
  return text;
}
