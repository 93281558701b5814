/**
 * Type-compatibility gate for the bundled declarations (fixtures and configs live in test/types/).
 *
 * - tsconfig.atypes.json and tsconfig.atypes.dt.json compile the shared fixtures against
 *   @types/websocket 1.0.10 (strict, and DefinitelyTyped's own settings), which proves the fixtures
 *   are valid code for that package in the first place.
 * - tsconfig.ours*.json and tsconfig.dt.json compile every fixture against our declarations. They run
 *   in a staged project whose node_modules/websocket holds only the .d.ts files `npm pack` would ship
 *   (plus package.json), so `websocket` and `websocket/lib/X` resolve the way they do for a consumer:
 *   through package.json "types" and "typesVersions". A declaration missing from the build or from
 *   "files", or a deep path that would fall back to a lib/X.ts source, fails here.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const TYPES_DIR = path.join(ROOT, 'test', 'types');
const TSC = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
const TSC_TIMEOUT_MS = 120_000;

interface TscRun {
  ok: boolean;
  /** Diagnostics and anything tsc printed on stderr (crashes). */
  output: string;
  /** Absolute paths of the files in the program (from --listFiles). */
  files: string[];
}

function runTsc(configPath: string): TscRun {
  const args = [TSC, '-p', configPath, '--pretty', 'false', '--listFiles'];
  let ok = true;
  let stdout = '';
  let stderr = '';
  try {
    stdout = execFileSync(process.execPath, args, {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: TSC_TIMEOUT_MS,
      maxBuffer: 64 << 20,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    ok = false;
    const failure = e as { stdout?: string | Buffer; stderr?: string | Buffer; message?: string };
    stdout = String(failure.stdout ?? '');
    stderr = String(failure.stderr ?? failure.message ?? '');
  }
  const lines = stdout.split(/\r?\n/);
  const files = lines.filter((l) => path.isAbsolute(l) && !/ error TS\d+/.test(l));
  const diagnostics = lines.filter((l) => l !== '' && !files.includes(l));
  return { ok, output: [...diagnostics, stderr.trim()].filter(Boolean).join('\n'), files };
}

function assertCompiles(configPath: string, run: TscRun): void {
  if (!run.ok) {
    throw new Error(`tsc -p ${path.relative(ROOT, configPath)} failed:\n${run.output}`);
  }
}

const isUnder = (file: string, dir: string): boolean => !path.relative(dir, file).startsWith('..');

/** Files `npm pack` would publish, without running any lifecycle script. */
function packedFiles(): string[] {
  const args = ['pack', '--dry-run', '--json', '--ignore-scripts'];
  const options = {
    cwd: ROOT,
    encoding: 'utf8' as const,
    timeout: TSC_TIMEOUT_MS,
    maxBuffer: 16 << 20,
    stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
  };
  const npmCli = process.env['npm_execpath'];
  const out =
    npmCli !== undefined && path.basename(npmCli) === 'npm-cli.js'
      ? execFileSync(process.execPath, [npmCli, ...args], options)
      : execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, { ...options, shell: process.platform === 'win32' });
  const parsed = JSON.parse(out) as Array<{ files: Array<{ path: string }> }>;
  return (parsed[0]?.files ?? []).map((f) => f.path.replace(/\\/g, '/'));
}

interface Stage {
  dir: string;
  /** The staged consumer project: a copy of test/types plus node_modules/websocket. */
  project: string;
  /** node_modules/websocket inside the project. */
  pkgDir: string;
  typesEntry: string;
}

/** Copies the .ts and .json files of `from` (recursively) into `to`. */
function copyTree(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    if (entry.isDirectory()) copyTree(source, path.join(to, entry.name));
    else if (/\.(ts|json)$/.test(entry.name)) fs.copyFileSync(source, path.join(to, entry.name));
  }
}

/**
 * A consumer project in a temp dir: test/types copied in, and node_modules/websocket holding the packed
 * declaration files and package.json only (no lib/*.ts, no lib/*.js: types must not need them).
 */
function stagePackedDeclarations(): Stage {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { types?: string; typings?: string };
  const typesEntry = (pkg.types ?? pkg.typings ?? 'index.d.ts').replace(/^\.\//, '');
  const files = packedFiles();
  if (!files.includes(typesEntry)) {
    throw new Error(`package.json "types" is ${typesEntry}, but npm pack would not ship it (check it exists and is in "files").`);
  }
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'websocket-types-')));
  const project = path.join(dir, 'project');
  copyTree(TYPES_DIR, project);
  const pkgDir = path.join(project, 'node_modules', 'websocket');
  for (const rel of files) {
    if (!rel.endsWith('.d.ts') && rel !== 'package.json') continue;
    const target = path.join(pkgDir, rel);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(path.join(ROOT, rel), target);
  }
  return { dir, project, pkgDir, typesEntry };
}

/** A config next to the staged copy of test/types/<name>, resolving `websocket` as a consumer would. */
function stagedConfig(stage: Stage, name: string): string {
  const config = {
    extends: `./${name}`,
    compilerOptions: {
      // Drop the repo-relative `paths` of the original: node_modules/websocket must do the resolving.
      paths: {},
      // The staged project lives outside the repo, so point at the repo's @types/node explicitly.
      typeRoots: [path.join(ROOT, 'node_modules', '@types')],
    },
  };
  const file = path.join(stage.project, `staged.${name}`);
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

describe('type declarations', () => {
  test.each([
    ['tsconfig.atypes.json', 'strict'],
    ['tsconfig.atypes.dt.json', "DefinitelyTyped's settings: strictNullChecks off, strictFunctionTypes, noImplicitAny"],
  ])(
    'fixtures compile against @types/websocket 1.0.10: %s (%s)',
    (name) => {
      const config = path.join(TYPES_DIR, name);
      const run = runTsc(config);
      assertCompiles(config, run);
      expect(run.files.some((f) => f.replace(/\\/g, '/').includes('/@types/websocket/'))).toBe(true);
    },
    TSC_TIMEOUT_MS + 10_000,
  );

  describe('against our packed declarations', () => {
    let stage: Stage | undefined;
    let stageError: unknown;

    beforeAll(() => {
      try {
        stage = stagePackedDeclarations();
      } catch (e) {
        stageError = e;
      }
    }, TSC_TIMEOUT_MS);

    afterAll(() => {
      if (stage) fs.rmSync(stage.dir, { recursive: true, force: true });
    });

    test.each([
      ['tsconfig.ours.json', 'loose settings, commonjs/node10'],
      ['tsconfig.ours.strict.json', 'strict, node16, DOM lib'],
      ['tsconfig.dt.json', "DefinitelyTyped's settings: strictNullChecks off, strictFunctionTypes, noImplicitAny, ES6"],
    ])(
      '%s (%s)',
      (name) => {
        if (!stage) throw stageError;
        const staged = stage;
        const config = stagedConfig(staged, name);
        const run = runTsc(config);
        assertCompiles(path.join(TYPES_DIR, name), run);
        // Every `websocket` import must have come from the staged package: nothing from
        // @types/websocket (the fallback when our entry point is missing) and nothing of the repo's
        // own (lib/ sources, types/, index.d.ts); only the compiler's libs and @types/node from there.
        const leaked = run.files.filter(
          (f) => f.replace(/\\/g, '/').includes('/@types/websocket/') || (isUnder(f, ROOT) && !isUnder(f, path.join(ROOT, 'node_modules'))),
        );
        expect(leaked).toEqual([]);
        // The root entry came from the package (deep paths did too, or deep-imports.ts would not compile).
        expect(run.files).toContain(path.join(staged.pkgDir, staged.typesEntry));
      },
      TSC_TIMEOUT_MS + 10_000,
    );
  });
});
