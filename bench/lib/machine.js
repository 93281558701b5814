'use strict';
// What a result was measured on: the machine, Node, the commit, and the versions of the libraries
// compared, for the top of every report and the "meta" of every result file.

const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');

function tryExec(cmd, args) {
  try {
    return execFileSync(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

function pkgVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`, { paths: [ROOT] }), 'utf8')).version;
  } catch {
    return null;
  }
}

function machineInfo() {
  let cpuModel = null;
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1].trim();
  } catch {
    // not Linux
  }
  const commit = tryExec('git', ['rev-parse', '--short', 'HEAD']);
  const status = tryExec('git', ['status', '--porcelain']);
  return {
    date: new Date().toISOString(),
    commit: commit || 'unknown',
    dirty: !!status,
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: cpuModel || (os.cpus()[0] && os.cpus()[0].model) || 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  };
}

// This package, upstream websocket (installed as websocket-upstream) and ws, then `others`
// (package names), each null when it is not installed.
function packageVersions(others) {
  const v = { ours: pkgVersion('websocket'), websocket: pkgVersion('websocket-upstream'), ws: pkgVersion('ws') };
  for (const name of others) v[name] = pkgVersion(name);
  return v;
}

// The report's lines about the machine, Node and the versions; `labels` renames packages after
// the first three (package name -> shown name).
function machineLines(meta, labels = {}) {
  const { ours, websocket, ws, ...others } = meta.versions;
  const rest = Object.entries(others).map(([name, version]) => `, ${labels[name] || name} ${version || '?'}`);
  return [
    `- Machine: ${meta.cpu}, ${meta.cores} cores, ${meta.memoryGiB} GiB, ${meta.platform}`,
    `- Node ${meta.node} (V8 ${meta.v8})`,
    `- Versions: ours ${ours || '?'}, websocket ${websocket || '?'} (as websocket-upstream), ws ${ws || '?'}${rest.join('')}`,
  ];
}

module.exports = { machineInfo, packageVersions, machineLines };
