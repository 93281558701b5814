'use strict';
// Upstream websocket@1.0.35, installed as the devDependency alias `websocket-upstream`.
require('./_websocket-node')('websocket-upstream', 'websocket');
