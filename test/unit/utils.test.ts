/**
 * lib/utils' BufferingLogger (each connection's `_debug`): enabled by the DEBUG environment variable
 * as read when the module loads, like the `debug` module WebSocket-Node used. Each case runs in a child
 * process so DEBUG is set before the module is loaded.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const UTILS = JSON.stringify(path.resolve(__dirname, '../../lib/utils.js'));

/** Runs `body` (with `utils` loaded) under `env`; returns what it printed as JSON. */
function run(debug: string | undefined, body: string): unknown {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['DEBUG'];
  if (debug !== undefined) env['DEBUG'] = debug;
  const script = `const utils = require(${UTILS}); const out = (() => { ${body} })(); process.stdout.write(JSON.stringify(out));`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env })) as unknown;
}

describe('BufferingLogger', () => {
  test('DEBUG unset or not matching: the one shared disabled logger, which records nothing', () => {
    const body = `
      const a = utils.BufferingLogger('websocket:connection', 1);
      const b = utils.BufferingLogger('websocket:connection', 2);
      const printed = [];
      a('hello'); a.printOutput((...args) => printed.push(args));
      return { same: a === b, enabled: a.enabled, printed };`;
    expect(run(undefined, body)).toEqual({ same: true, enabled: false, printed: [] });
    expect(run('', body)).toEqual({ same: true, enabled: false, printed: [] });
    expect(run('other:*', body)).toEqual({ same: true, enabled: false, printed: [] });
  });

  test('DEBUG with wildcards and negation decides per namespace', () => {
    const body = `return ['websocket:connection', 'websocket:server', 'other'].map((ns) => utils.BufferingLogger(ns, 1).enabled);`;
    expect(run('websocket:*', body)).toEqual([true, true, false]);
    expect(run('websocket:*,-websocket:server', body)).toEqual([true, false, false]);
    expect(run('other websocket:connection', body)).toEqual([true, false, true]);
    expect(run('*', body)).toEqual([true, true, true]);
  });

  test('enabled: lines are kept (the last 200) and printed with namespace and id, then cleared', () => {
    const body = `
      const log = utils.BufferingLogger('websocket:connection', 7);
      for (let i = 0; i < 250; i++) log('line %d', i);
      const printed = [];
      log.printOutput((...args) => printed.push(args));
      const again = [];
      log.printOutput((...args) => again.push(args));
      return { count: printed.length, first: printed[0].slice(1), last: printed[199].slice(1), prefix: / websocket:connection \\[7\\]$/.test(printed[0][0]), again: again.length };`;
    expect(run('websocket:connection', body)).toEqual({ count: 200, first: ['line %d', 50], last: ['line %d', 249], prefix: true, again: 0 });
  });

  test('DEBUG is read once, when the module loads: a later change does not switch loggers on', () => {
    // Set after the module loaded but before any logger was made: still off, as with the debug module.
    const body = `
      process.env.DEBUG = 'websocket:*';
      return [utils.BufferingLogger('websocket:connection', 1).enabled, utils.BufferingLogger('websocket:server', 2).enabled];`;
    expect(run(undefined, body)).toEqual([false, false]);
  });
});
