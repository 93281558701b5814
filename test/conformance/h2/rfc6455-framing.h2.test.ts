/**
 * ../rfc6455-framing.test.ts (§5.2 base framing, §5.3 masking) again, with each WebSocket on an
 * HTTP/2 stream (RFC 8441), from both ends: our server mounted on an h2c server and fed by a raw
 * http2 client, our client (`http2: true`) fed by a raw http2 server. The same test bodies, named
 * "[h2] ..."; the transport is in ../helpers. Then the h2 form of two tests of
 * ../rfc6455-handshake.test.ts (HTTP/1.1 only): frames that arrive together with the handshake.
 */
import { OP, describeOverH2, openPair } from '../helpers';

describeOverH2(() => {
  require('../rfc6455-framing.test');

  describe('frames together with the extended CONNECT handshake', () => {
    test('server receives frames sent right behind the CONNECT, before its 200, and processes them after accepting', async () => {
      // The §5.7 masked "Hello", then a ping and a masked binary frame, as the first DATA of the stream.
      const early = Buffer.concat([Buffer.from('818537fa213d7f9f4d5158', 'hex'), Buffer.from('8981000000007a', 'hex'), Buffer.from('8282010203040203', 'hex')]);
      const { peer, log } = await openPair('server', { withHandshake: early, pingListener: 'observe' });
      await peer.expectFrame(OP.TEXT, 'Hello');
      await peer.expectFrame(OP.PONG, 'z');
      await peer.expectFrame(OP.BINARY, [3, 1]);
      expect(log.events.map((e) => e.type)).toEqual(['message', 'ping', 'message']);
    });

    test('client receives frames in the DATA right behind the 200 and processes them', async () => {
      const { peer, log } = await openPair('client', { withHandshake: Buffer.from('810548656c6c6f' + '890170', 'hex') });
      await peer.expectFrame(OP.TEXT, 'Hello');
      await peer.expectFrame(OP.PONG, 'p');
      expect(log.texts).toEqual(['Hello']);
    });
  });
});
