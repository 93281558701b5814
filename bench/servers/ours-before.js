'use strict';
// This package as built at an earlier commit, for before/after figures in one run:
// `npm run bench:before -- <git ref>` builds that commit into .tmp/bench-before, then
// `npm run bench -- --impl ours-before,ours,ws ...` runs it beside the working tree.
const path = require('path');
require('./_websocket-node')(path.resolve(__dirname, '../../.tmp/bench-before'), 'ours-before');
