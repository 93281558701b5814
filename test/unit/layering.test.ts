/**
 * The layers of lib/ import one way only: codec → extensions → protocol → transport → connection and
 * promises → public classes → streams (handshake beside protocol, for the public classes; brokers → topics
 * beside the connection layer). The connection layer holds
 * WebSocketConnection's state and handlers; it may use the top-level support modules (config,
 * close reasons, types, logger) but no public class. Lower layers never touch sockets or timers,
 * and the core (codec, protocol) schedules nothing and runs no zlib of its own.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const LIB = path.resolve(__dirname, '../../lib');

/** For each layer folder: which lib folders its files may import from. */
const ALLOWED: Record<string, readonly string[]> = {
  codec: ['codec'],
  extensions: ['codec', 'extensions'],
  handshake: ['codec', 'handshake'],
  protocol: ['codec', 'extensions', 'protocol'],
  transport: ['codec', 'extensions', 'protocol', 'transport'],
  connection: ['codec', 'extensions', 'protocol', 'transport', 'promises', 'topics', 'connection', '(support)'],
  // Topics fan out through the send side of the core and see connections and servers structurally;
  // brokers are a bus between nodes and know nothing of WebSockets: they import neither.
  topics: ['codec', 'extensions', 'protocol', 'brokers', 'topics'],
  brokers: ['brokers'],
  // The promise layer (connection.messages(), ...) drives the transport but sees the connection
  // only through structural interfaces, so it never imports a public class.
  promises: ['codec', 'protocol', 'transport', 'promises', '(support)'],
  // Stream adapters are built on the public classes, as a user's code would be; nothing imports them back.
  streams: ['codec', 'extensions', 'protocol', 'transport', 'promises', 'streams', '(support)', '(public classes)'],
  // RFC 8441 (WebSockets over HTTP/2 streams): a request subclass and its dispatch, built on the public
  // request and connection classes; WebSocketServer calls in only through its mount/unmount hooks.
  http2: ['extensions', 'handshake', 'http2', '(support)', '(public classes)'],
};

/** Top-level files: the public classes are capitalised (WebSocketServer, W3CWebSocket, ...). */
function topLevelLayer(file: string): string {
  return /^[A-Z]/.test(path.basename(file)) ? '(public classes)' : '(support)';
}

/** Node modules that mean I/O or timers, which the pure layers must not use. */
const IO_MODULES = /^node:(net|http|https|tls|dgram|timers|child_process|fs)$/;
const TIMER_CALLS = /\b(setTimeout|setInterval|setImmediate)\s*\(/;
/** Deferring work is the transport's decision: the core runs only when called. */
const SCHEDULING = /\b(process\.nextTick|queueMicrotask|setImmediate|setTimeout|setInterval)\b/;
const ZLIB = /^(node:)?zlib$/;

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/(?:from\s+|require\()\s*'([^']+)'/g)) found.push(match[1]!);
  return found;
}

describe('lib/ layering', () => {
  const files = sources(LIB);

  test('finds the layer folders', () => {
    for (const layer of Object.keys(ALLOWED)) {
      expect(files.some((file) => path.relative(LIB, file).startsWith(layer + path.sep))).toBe(true);
    }
  });

  for (const file of files) {
    const relative = path.relative(LIB, file);
    const layer = relative.includes(path.sep) ? relative.split(path.sep)[0]! : null;
    if (layer === null) continue;
    const allowed = ALLOWED[layer];
    test(`${relative} imports only from ${allowed?.join(', ')}`, () => {
      expect(allowed).toBeDefined();
      for (const target of importsOf(file)) {
        if (!target.startsWith('.')) continue;
        const resolved = path.relative(LIB, path.resolve(path.dirname(file), target));
        const targetLayer = resolved.includes(path.sep) ? resolved.split(path.sep)[0]! : topLevelLayer(resolved);
        expect({ target, layer: targetLayer, allowed: allowed!.includes(targetLayer) }).toEqual({ target, layer: targetLayer, allowed: true });
      }
    });

    if (layer === 'codec' || layer === 'extensions' || layer === 'protocol') {
      test(`${relative} uses no sockets, files or timers`, () => {
        const text = fs.readFileSync(file, 'utf8');
        expect(importsOf(file).filter((target) => IO_MODULES.test(target))).toEqual([]);
        expect(TIMER_CALLS.test(text)).toBe(false);
      });
    }
    if (layer === 'codec' || layer === 'protocol') {
      test(`${relative} schedules nothing and runs no zlib`, () => {
        const text = fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
        expect(text.match(SCHEDULING)?.[0] ?? null).toBeNull();
        expect(importsOf(file).filter((target) => ZLIB.test(target))).toEqual([]);
      });
    }
    if (layer === 'handshake') {
      // The handshake rules read HTTP messages (types, status texts) but never do I/O themselves.
      test(`${relative} starts no timers`, () => {
        expect(TIMER_CALLS.test(fs.readFileSync(file, 'utf8'))).toBe(false);
      });
    }
  }
});
