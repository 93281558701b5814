'use strict';
// This package as built at an earlier commit by bench/before.sh (see servers/ours-before.js).
const path = require('path');
require('./_websocket-node')(path.resolve(__dirname, '../../.tmp/bench-before'));
