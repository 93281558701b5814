'use strict';
// This repository's package: in this repo require('websocket') resolves to it.
require('./_websocket-node')('websocket', 'ours');
