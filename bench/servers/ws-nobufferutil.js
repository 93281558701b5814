'use strict';
// ws@8 without bufferutil: ws reads this variable when it is first required.
process.env.WS_NO_BUFFER_UTIL = '1';
require('./_ws')('ws-nobufferutil');
