/**
 * Reads an upgrade request's headers without building `request.headers`. Node makes that object on
 * first read, from `rawHeaders`, lower-casing every name: about half a kilobyte of garbage per
 * handshake that most applications never look at (and garbage per handshake is what keeps a burst
 * of connections' young generation large). The values are the ones `request.headers` would hold;
 * once anyone has read or replaced `request.headers`, it is read instead, so changes made to it
 * (a proxy fixing `origin`, say) count, as they did in WebSocket-Node.
 */
import { IncomingMessage } from 'node:http';
import { equalsLowerCase } from './header-values';

/** The request headers the handshake reads, by their lower-case names. */
export type HandshakeHeaderName =
  | 'host'
  | 'sec-websocket-key'
  | 'sec-websocket-version'
  | 'origin'
  | 'sec-websocket-origin'
  | 'sec-websocket-protocol'
  | 'sec-websocket-extensions'
  | 'x-forwarded-for'
  | 'cookie'
  | 'upgrade'
  | 'connection';

/** What a request given to the server may be: Node's IncomingMessage, or any object with `headers`. */
type HeaderSource = Pick<IncomingMessage, 'headers'> & { rawHeaders?: unknown; joinDuplicateHeaders?: unknown };

/** How Node adds one header line to `headers`: an application that replaces it gets its own rules. */
const nodeAddHeaderLine = (IncomingMessage.prototype as unknown as { _addHeaderLine: unknown })._addHeaderLine;

/** Node's private slots: the built headers object (null until `headers` is first read) and how many rawHeaders entries it is built from. */
interface Slots {
  readonly built: symbol;
  readonly count: symbol;
}

/** The slots, once looked up; null when this Node keeps its headers some other way. */
let slots: Slots | null | undefined;

/** Finds the slots once, on a request of our own, and checks that the getter reads them as expected. */
function nodeSlots(): Slots | null {
  if (slots !== undefined) return slots;
  slots = null;
  try {
    const probe = new IncomingMessage(null as unknown as IncomingMessage['socket']);
    const named = (description: string): symbol | undefined =>
      Object.getOwnPropertySymbols(probe).find((slot) => slot.description === description);
    const built = named('kHeaders');
    const count = named('kHeadersCount');
    if (built === undefined || count === undefined || (probe as unknown as Record<symbol, unknown>)[built] !== null) return slots;
    (probe as unknown as { _addHeaderLines(lines: string[], n: number): void })._addHeaderLines(['X-Probe', 'a', 'x-probe', 'b', 'Host', 'h'], 4);
    if (probe.headers['x-probe'] === 'a, b' && probe.headers.host === undefined) slots = { built, count };
  } catch {
    slots = null;
  }
  return slots;
}

/**
 * How many rawHeaders entries `request.headers` would be built from, when `request` is a plain
 * IncomingMessage whose `headers` nobody has read or replaced yet; -1 otherwise.
 */
function unbuiltCount(request: HeaderSource): number {
  if (Object.getPrototypeOf(request) !== IncomingMessage.prototype) return -1;
  if ((request as unknown as { _addHeaderLine: unknown })._addHeaderLine !== nodeAddHeaderLine) return -1;
  const found = nodeSlots();
  if (found === null || Object.prototype.hasOwnProperty.call(request, 'headers') || !Array.isArray(request.rawHeaders)) return -1;
  const own = request as unknown as Record<symbol, unknown>;
  const count = own[found.count];
  return own[found.built] === null && typeof count === 'number' ? count : -1;
}

/**
 * The header `name` of `request`, as `request.headers[name]` gives it: duplicates joined with ", "
 * (with "; " for Cookie), a duplicate Host dropped unless the server joins duplicates.
 */
export function requestHeader(request: HeaderSource, name: HandshakeHeaderName): string | string[] | undefined {
  const count = unbuiltCount(request);
  if (count < 0) return request.headers[name];
  const raw = request.rawHeaders as readonly string[];
  const end = Math.min(count, raw.length - 1);
  let value: string | undefined;
  for (let i = 0; i < end; i += 2) {
    const field = raw[i];
    if (typeof field !== 'string' || field.length !== name.length || !equalsLowerCase(field, 0, name)) continue;
    const fieldValue = raw[i + 1] as string;
    if (value === undefined) value = fieldValue;
    else if (name === 'cookie') value += '; ' + fieldValue;
    else if (name !== 'host' || request.joinDuplicateHeaders) value += ', ' + fieldValue;
  }
  return value;
}
