// Members where @types/websocket 1.0.10 contradicts what the runtime holds. Our declarations follow the
// runtime (listed in docs/compat.md, Types), so code written against @types that relied on these
// types would have been wrong at run time already. Pinned exactly, so neither side drifts back.
import * as websocket from 'websocket';
import { type Equals, expectTrue } from '../helpers';

// @types: `mask: number`. The parser stores Boolean(byte & 0x80), and toBuffer() tests it as a flag.
expectTrue<Equals<websocket.frame['mask'], boolean>>();

// @types: `assembleFragments: number`. It is the config's boolean.
expectTrue<Equals<websocket.connection['assembleFragments'], boolean>>();

// @types: `path: string`. mount() stores the RegExp it matches with; the string is `pathString`.
expectTrue<Equals<websocket.IRouterHandler['path'], RegExp>>();

// @types: `parseExtensions(): string[]`. Each entry is an object: `{ name, params }`.
export function extensionNames(request: websocket.request): string[] {
  return request.parseExtensions('permessage-deflate; client_max_window_bits').map((offer) => offer.name);
}

// @types: `parseCookies(): ICookie[] | void`, with `value: string`. A pair without `=` gives a null value.
export function cookieValues(request: websocket.request): Array<string | null> {
  return request.parseCookies('flag; a=1').map((cookie) => cookie.value);
}
