/**
 * Type-compatibility gate for the bundled declarations (fixtures and configs live in test/types/).
 *
 * - tsconfig.atypes.json compiles the shared fixtures against @types/websocket 1.0.10, which proves
 *   the fixtures are valid code for that package in the first place.
 * - tsconfig.ours*.json compile every fixture against our declarations. They are run against a
 *   staged copy of the .d.ts files `npm pack` would ship, not against the repo: in the repo,
 *   TypeScript resolves `websocket/lib/X` to lib/X.ts before lib/X.d.ts, so a broken or missing
 *   emitted declaration (or one left out of package.json "files") would go unnoticed.
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
  pkgDir: string;
  typesEntry: string;
}

/** Copies the packed declaration files into a temp dir, shaped like node_modules/websocket. */
function stagePackedDeclarations(): Stage {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { types?: string; typings?: string };
  const typesEntry = (pkg.types ?? pkg.typings ?? 'index.d.ts').replace(/^\.\//, '');
  const files = packedFiles();
  if (!files.includes(typesEntry)) {
    throw new Error(`package.json "types" is ${typesEntry}, but npm pack would not ship it (check it exists and is in "files").`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'websocket-types-'));
  const pkgDir = path.join(dir, 'websocket');
  for (const rel of files) {
    if (!rel.endsWith('.d.ts') && rel !== 'package.json') continue;
    const target = path.join(pkgDir, rel);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(path.join(ROOT, rel), target);
  }
  return { dir, pkgDir, typesEntry };
}

/** A config extending test/types/<name> whose `websocket` paths point into the stage. */
function stagedConfig(stage: Stage, name: string): string {
  const config = {
    extends: path.join(TYPES_DIR, name),
    compilerOptions: {
      paths: {
        websocket: [path.join(stage.pkgDir, stage.typesEntry)],
        'websocket/lib/*': [path.join(stage.pkgDir, 'lib', '*')],
      },
      // The generated config lives outside the repo, so point at the repo's @types/node explicitly.
      typeRoots: [path.join(ROOT, 'node_modules', '@types')],
    },
  };
  const file = path.join(stage.dir, `staged.${name}`);
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

describe('type declarations', () => {
  test(
    'fixtures compile against @types/websocket 1.0.10 (the fixtures are valid @types code)',
    () => {
      const config = path.join(TYPES_DIR, 'tsconfig.atypes.json');
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
    ])(
      '%s (%s)',
      (name) => {
        if (!stage) throw stageError;
        const config = stagedConfig(stage, name);
        const run = runTsc(config);
        assertCompiles(path.join(TYPES_DIR, name), run);
        // Every `websocket` import must have come from the stage: nothing from @types/websocket
        // (the fallback when our entry point is missing) and nothing from the repo's lib/.
        const leaked = run.files.filter(
          (f) => f.replace(/\\/g, '/').includes('/@types/websocket/') || isUnder(f, path.join(ROOT, 'lib')),
        );
        expect(leaked).toEqual([]);
      },
      TSC_TIMEOUT_MS + 10_000,
    );
  });
});
