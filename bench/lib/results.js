'use strict';
// Results: the median of the runs, the parts every markdown report shares, and the two result
// files, <date>-<commit>[-dirty][-<suffix>].md and .json.

const fs = require('fs');
const path = require('path');
const { log } = require('./cli');

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// The report's first line.
function heading(title, meta) {
  return `# ${title}: ${meta.date.slice(0, 10)}, commit ${meta.commit}${meta.dirty ? ' (uncommitted changes)' : ''}`;
}

// Report lines: the table of every run, folded.
function everyRun(runsTable) {
  return ['<details><summary>Every run</summary>', '', runsTable, '', '</details>', ''];
}

// Report lines: the failed runs, if any.
function failedRuns(errors) {
  if (!errors.length) return [];
  return ['## Failed runs', '', ...errors.map((e) => `- ${e}`), ''];
}

// Writes the report and the data; a second run on the same day and commit gets the time added to
// its name instead of replacing the first.
function save(out, meta, suffix, md, json) {
  fs.mkdirSync(out, { recursive: true });
  let base = `${meta.date.slice(0, 10)}-${meta.commit}${meta.dirty ? '-dirty' : ''}${suffix ? `-${suffix}` : ''}`;
  if (fs.existsSync(path.join(out, `${base}.md`))) base += `-${meta.date.slice(11, 19).replace(/:/g, '')}`;
  const mdPath = path.join(out, `${base}.md`);
  fs.writeFileSync(mdPath, md + '\n');
  fs.writeFileSync(path.join(out, `${base}.json`), JSON.stringify(json, null, 2) + '\n');
  log(`\nbench: saved ${path.relative(process.cwd(), mdPath)} (and .json)`);
}

module.exports = { median, heading, everyRun, failedRuns, save };
