'use strict';
// ws@8's client with bufferutil.
require('./_ws')();
