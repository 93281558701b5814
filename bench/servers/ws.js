'use strict';
// ws@8 with its native helper bufferutil (mask/unmask), the configuration most deployments run.
require('./_ws')('ws');
