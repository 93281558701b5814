/**
 * The WebAssembly masker is embedded as bytes (lib/codec/mask-simd.ts) and kept as text in
 * lib/codec/mask-simd.wat; this assembles the text with wabt and requires the very same bytes, so
 * the source that is read and reviewed is the code that runs.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import wabt = require('wabt');
import { MODULE_BASE64 } from '../../../lib/codec/mask-simd';

const WAT = path.resolve(__dirname, '../../../lib/codec/mask-simd.wat');

describe('lib/codec/mask-simd.wat', () => {
  test('assembles (SIMD enabled, no debug names) to exactly the embedded module', async () => {
    const assembler = await wabt();
    const module = assembler.parseWat('mask-simd.wat', fs.readFileSync(WAT, 'utf8'), { simd: true });
    try {
      module.validate();
      const { buffer } = module.toBinary({ log: false, write_debug_names: false });
      // Compared as base64, so a failure prints the value to paste into MODULE_BASE64.
      expect(Buffer.from(buffer).toString('base64')).toBe(MODULE_BASE64);
    } finally {
      module.destroy();
    }
  });

  test('is not shipped: the packed file list has no .wat (it is not needed at run time)', () => {
    // npm's own file selection (package.json "files", .npmignore), without building or packing.
    const listing = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: path.resolve(__dirname, '../../..'),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const [pack] = JSON.parse(listing) as { files: { path: string }[] }[];
    const paths = pack!.files.map((file) => file.path);
    expect(paths).toContain('package.json');
    expect(paths.filter((file) => file.endsWith('.wat'))).toEqual([]);
  });
});
