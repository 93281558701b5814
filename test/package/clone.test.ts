/**
 * The README's other install path: `npm install websocket@file:../websocket-node-ts`, a local clone.
 * npm links the directory, so the consumer sees the whole tree, lib/*.ts sources included, and tsc
 * prefers a .ts file to a .d.ts: unless package.json sends it elsewhere ("types" and "typesVersions"
 * pointing at types/), the consumer's tsc would type-check our sources under its own settings.
 * A consumer compiled against the linked clone, strict and with DefinitelyTyped's settings, must get
 * 0 errors and read only declarations.
 *
 * The clone is a copy of the built working tree (what `npm install` in a fresh clone leaves after
 * `prepare`), without node_modules; a stale build fails the check below.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileConsumer, npm, packageFilesRead, staleBuildFiles, TS_DEEP_CHECK, TS_MODES } from './consumer-helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const TIMEOUT_MS = 120_000;

/** Top-level entries of a built clone that matter to a consumer (tests, benches and docs do not). */
const CLONE_ENTRIES = ['package.json', 'index.js', 'index.d.ts', 'README.md', 'tsconfig.json', 'tsconfig.base.json', 'tsconfig.build.json', 'lib', 'types'];

describe('a clone linked with file: in a consumer project', () => {
  let tmp = '';
  let clone = '';
  let consumer = '';

  beforeAll(() => {
    const stale = staleBuildFiles();
    if (stale.length > 0) {
      throw new Error(`lib/ has TypeScript newer than its build; run \`npm run build\` first: ${stale.join(', ')}`);
    }
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ws-clone-')));
    clone = path.join(tmp, 'websocket-node-ts');
    for (const entry of CLONE_ENTRIES) {
      fs.cpSync(path.join(ROOT, entry), path.join(clone, entry), { recursive: true });
    }
    // npm 9 and 10 (Node 18's and 22's) run a linked folder's `prepare` even with --ignore-scripts,
    // and this copy has no devDependencies to build with; it is built already, so it goes without.
    const manifestPath = path.join(clone, 'package.json');
    const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as { scripts?: Record<string, string> };
    if (manifest.scripts !== undefined) delete manifest.scripts['prepare'];
    fs.writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
    consumer = path.join(tmp, 'consumer');
    fs.mkdirSync(path.join(consumer, 'src'), { recursive: true });
    fs.writeFileSync(
      path.join(consumer, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, license: 'MIT' }, null, 2),
    );
    // --install-links=false is npm's default for directories (a symlink); spelled out because that
    // link is what exposes lib/*.ts. The clone is already built, so no lifecycle script is needed.
    npm(['install', '--no-audit', '--no-fund', '--ignore-scripts', '--install-links=false', 'websocket@file:../websocket-node-ts'], consumer);
    fs.writeFileSync(path.join(consumer, 'src', 'deep.ts'), TS_DEEP_CHECK);
  }, TIMEOUT_MS);

  afterAll(() => {
    if (tmp !== '') fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the clone is linked, with its TypeScript sources next to the build', () => {
    const installed = path.join(consumer, 'node_modules', 'websocket');
    expect(fs.lstatSync(installed).isSymbolicLink()).toBe(true);
    expect(fs.realpathSync(installed)).toBe(clone);
    expect(fs.existsSync(path.join(installed, 'lib', 'WebSocketClient.ts'))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'types', 'lib', 'WebSocketClient.d.ts'))).toBe(true);
  });

  test('deep runtime paths still load from lib/', () => {
    const script = `const root = require('websocket');
const Connection = require('websocket/lib/WebSocketConnection');
console.log(JSON.stringify([Connection === root.connection, Connection.CLOSE_REASON_NORMAL, require.resolve('websocket/lib/WebSocketConnection')]));`;
    const out = execFileSync(process.execPath, ['-e', script], {
      cwd: consumer,
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? os.tmpdir() },
    });
    expect(JSON.parse(out.trim())).toEqual([true, 1000, path.join(clone, 'lib', 'WebSocketConnection.js')]);
  });

  test.each(TS_MODES)(
    'TypeScript ($name): 0 errors, and only declarations are read from the clone',
    (mode) => {
      const run = compileConsumer(consumer, ['src/deep.ts'], mode);
      expect(run.errors).toEqual([]);
      expect(run.ok).toBe(true);
      const read = packageFilesRead(run, consumer);
      expect(read).toContain('index.d.ts');
      expect(read).toContain('types/lib/WebSocketClient.d.ts');
      expect(read.filter((f) => f !== 'index.d.ts' && !f.startsWith('types/'))).toEqual([]);
    },
    TIMEOUT_MS,
  );
});
