/**
 * ../rfc6455-fragments-control.test.ts (§5.4 fragmentation, §5.5 control frames) again, with each WebSocket on an
 * HTTP/2 stream (RFC 8441), from both ends: our server mounted on an h2c server and fed by a raw
 * http2 client, our client (`http2: true`) fed by a raw http2 server. The same test bodies, named
 * "[h2] ..."; the transport is in ../helpers.
 */
import { describeOverH2 } from '../helpers';

describeOverH2(() => {
  require('../rfc6455-fragments-control.test');
});
