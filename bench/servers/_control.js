'use strict';
// What every benchmark server shares: listen on 127.0.0.1 with an OS-chosen port, announce it on
// stdout as one JSON line, answer "gc" on stdin (run.js measures RSS after a collection), and exit
// as soon as stdin closes so a server never outlives the harness. "cpu" answers the CPU time used.

const { readStdinLines } = require('../lib/lines');

const MiB = 1024 * 1024;

function nativeModulesLoaded() {
  const loaded = Object.keys(require.cache);
  return {
    // The native add-ons, not their JavaScript fallbacks.
    bufferutil: loaded.some((p) => /[\\/]bufferutil[\\/].*\.node$/.test(p)),
    utf8validate: loaded.some((p) => /[\\/]utf-8-validate[\\/].*\.node$/.test(p)),
  };
}

function serve(server, impl, extra = {}) {
  server.on('error', (err) => {
    process.stderr.write(`${impl} server error: ${err.stack || err}\n`);
    process.exit(1);
  });
  server.listen(0, '127.0.0.1', () => {
    const info = { port: server.address().port, pid: process.pid, impl, native: nativeModulesLoaded(), ...extra };
    process.stdout.write(JSON.stringify(info) + '\n');
  });

  readStdinLines(
    (cmd) => {
      if (cmd === 'gc') {
        if (global.gc) {
          global.gc();
          global.gc();
        }
        process.stdout.write(JSON.stringify({ gc: !!global.gc }) + '\n');
      } else if (cmd === 'mem') {
        // Where the memory is, for investigating rss-2000: process totals and V8's heap spaces.
        const spaces = {};
        for (const sp of require('v8').getHeapSpaceStatistics()) spaces[sp.space_name] = { size: sp.space_size, used: sp.space_used_size };
        process.stdout.write(JSON.stringify({ mem: process.memoryUsage(), spaces }) + '\n');
      } else if (cmd === 'cpu') {
        // CPU time used so far (µs); run.js samples it around the measured period.
        const { user, system } = process.cpuUsage();
        process.stdout.write(JSON.stringify({ cpu: user + system, user }) + '\n');
      } else if (cmd === 'exit') {
        process.exit(0);
      }
    },
    () => process.exit(0)
  );
}

module.exports = { serve, nativeModulesLoaded, MiB };
