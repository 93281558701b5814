/** Small helpers WebSocket-Node exposed from `lib/utils`; its own tests import the buffer ones. */

/** Allocates an uninitialised Buffer of `size` bytes (upstream's Node < 4.5 shim). */
export function bufferAllocUnsafe(size: number): Buffer {
  return Buffer.allocUnsafe(size);
}

/** Makes a Buffer from a string (upstream's Node < 4.5 shim). */
export function bufferFromString(value: string, encoding?: BufferEncoding): Buffer {
  return Buffer.from(value, encoding);
}

/** Does nothing; upstream's placeholder callback. */
export function noop(): void {
  // intentionally empty
}

/** The `_debug` logger each connection carries: callable, with `enabled` and `printOutput()`. */
export interface BufferingLogger {
  (...args: unknown[]): void;
  /** Whether `DEBUG` names this logger's namespace. */
  enabled: boolean;
  /** Prints what was buffered, prefixed with the date and the connection id. */
  printOutput(logFunction?: (...args: unknown[]) => void): void;
}

const DISABLED_LOGGER = Object.assign((): void => undefined, { enabled: false, printOutput: noop }) as BufferingLogger;

/** Most log lines kept per connection; WebSocket-Node's buffer grew without bound. */
const MAX_BUFFERED_LINES = 200;

/**
 * `DEBUG` as read when this module loads, and each namespace's answer: the `debug` module
 * WebSocket-Node used also reads it once, when loaded. Reading `process.env` for every connection
 * cost about 1% of a handshake.
 */
const debugSetting = process.env['DEBUG'];
const debugEnabled = new Map<string, boolean>();

/** Whether the `DEBUG` environment variable enables `namespace` (comma/space separated, `*` wildcards, `-` negation). */
function isDebugEnabled(namespace: string): boolean {
  const setting = debugSetting;
  if (setting === undefined || setting === '') return false;
  const known = debugEnabled.get(namespace);
  if (known !== undefined) return known;
  let enabled = false;
  for (const part of setting.split(/[\s,]+/)) {
    if (part === '') continue;
    const negated = part.startsWith('-');
    const pattern = new RegExp('^' + (negated ? part.slice(1) : part).replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*?') + '$');
    if (pattern.test(namespace)) enabled = !negated;
  }
  debugEnabled.set(namespace, enabled);
  return enabled;
}

/**
 * Makes a logger that buffers lines in memory (bounded) and prints them only on `printOutput()`,
 * as WebSocket-Node's BufferingLogger does; a no-op when `DEBUG` does not enable the namespace.
 */
export function BufferingLogger(namespace: string, id: number | string): BufferingLogger {
  // One shared no-op logger: with DEBUG off (the normal case) connections carry no logger state.
  if (!isDebugEnabled(namespace)) return DISABLED_LOGGER;
  const lines: Array<[Date, unknown[]]> = [];
  const log = ((...args: unknown[]): void => {
    lines.push([new Date(), args]);
    if (lines.length > MAX_BUFFERED_LINES) lines.shift();
  }) as BufferingLogger;
  log.enabled = true;
  log.printOutput = (logFunction: (...args: unknown[]) => void = console.error): void => {
    for (const [date, args] of lines) logFunction(`${date.toISOString()} ${namespace} [${id}]`, ...args);
    lines.length = 0;
  };
  return log;
}
