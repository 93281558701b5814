'use strict';
/**
 * Preloaded into every Node process of the .ci/node-versions.sh runs (NODE_OPTIONS=--require):
 * makes a DeprecationWarning throw where it is emitted.
 *
 * Node's own --throw-deprecation throws from a later tick, where no test is running: jest cannot
 * pin it on a test and dies, so the rest of the suite never runs. Thrown synchronously instead,
 * the deprecated call fails the test that made it and the run goes on. The warning is also written
 * to stderr, so .ci/node-versions.sh still sees it when the exception is caught by the code that
 * made the call, or lands in a child process whose output a test keeps to itself.
 */
const emitWarning = process.emitWarning;

function isDeprecation(warning, type) {
  if (warning instanceof Error) return warning.name === 'DeprecationWarning';
  if (typeof type === 'string') return type === 'DeprecationWarning';
  return type !== null && typeof type === 'object' && type.type === 'DeprecationWarning';
}

process.emitWarning = function throwingEmitWarning(warning, type, code, ...rest) {
  if (!isDeprecation(warning, type) || process.noDeprecation) {
    return Reflect.apply(emitWarning, this, [warning, type, code, ...rest]);
  }
  let error = warning;
  if (!(error instanceof Error)) {
    error = new Error(String(warning));
    error.name = 'DeprecationWarning';
    const options = type !== null && typeof type === 'object' ? type : {};
    const depCode = typeof type === 'string' ? code : options.code;
    if (depCode !== undefined) error.code = depCode;
    // Start the stack at the caller of the deprecated API, as Node's own warning does.
    Error.captureStackTrace(error, throwingEmitWarning);
  }
  // A few frames say who made the call; the whole stack follows the exception where it is reported.
  const frames = String(error.stack).split('\n').filter((l) => /^\s+at /.test(l)).slice(0, 5);
  process.stderr.write(`(node:${process.pid}) [${error.code ?? 'no code'}] DeprecationWarning: ${error.message}\n${frames.join('\n')}\n`);
  throw error;
};
