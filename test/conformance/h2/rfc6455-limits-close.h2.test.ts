/**
 * ../rfc6455-limits-close.test.ts (size limits, §5.5.1 / §7 closing handshake) again, with each
 * WebSocket on an HTTP/2 stream (RFC 8441), from both ends: the same test bodies, named "[h2] ...";
 * the transport is in ../helpers. Then what RFC 8441 §5 puts in the place of TCP's closure: the
 * peer's END_STREAM (its FIN) and RST_STREAM with CANCEL (its reset).
 */
import * as http2 from 'node:http2';
import { bothSides, describeOverH2, openPair } from '../helpers';

describeOverH2(() => {
  require('../rfc6455-limits-close.test');

  describe('RFC 8441 §5: the stream closes in place of the TCP connection', () => {
    bothSides('END_STREAM without a close frame, answers with END_STREAM alone and reports 1006', async (side) => {
      const { peer, log } = await openPair(side);
      peer.end();
      // Our end half-closes too (no close frame: the peer can no longer read one it would answer).
      await peer.expectEnd();
      expect(await log.closed()).toEqual({ code: 1006, description: 'Connection dropped by remote peer.' });
      expect(log.events.map((e) => e.type)).toEqual(['close']);
    });

    bothSides('RST_STREAM with CANCEL without a close frame, and reports 1006 (no error: CANCEL is no failure)', async (side) => {
      const { peer, log } = await openPair(side);
      peer.reset(http2.constants.NGHTTP2_CANCEL);
      expect(await log.closed()).toEqual({ code: 1006, description: 'Connection dropped by remote peer.' });
      expect(log.events.map((e) => e.type)).toEqual(['close']);
    });

    bothSides("RST_STREAM with an error code (INTERNAL_ERROR): 'error' first, then 1006", async (side) => {
      const { peer, log } = await openPair(side);
      peer.reset(http2.constants.NGHTTP2_INTERNAL_ERROR);
      const closed = await log.closed();
      expect(closed.code).toBe(1006);
      expect(closed.description).toMatch(/ERR_HTTP2_STREAM_ERROR/);
      expect(log.events.map((e) => e.type)).toEqual(['error', 'close']);
      const error = log.events[0];
      expect(error?.type === 'error' ? (error.error as Error & { code?: string }).code : undefined).toBe('ERR_HTTP2_STREAM_ERROR');
    });
  });
});
