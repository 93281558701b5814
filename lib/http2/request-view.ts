/**
 * The `httpRequest` of a WebSocketRequest that arrived as an RFC 8441 extended CONNECT: the parts of
 * an `http.IncomingMessage` that applications read (`headers`, `url`, `method`, `httpVersion`,
 * `socket`), taken from the stream's header block. `headers` is Node's own object for the stream,
 * pseudo-header fields (`:path`, `:authority`, `:scheme`, `:protocol`, `:method`) included, as
 * `http2`'s compatibility API (`Http2ServerRequest.headers`) has it too.
 */
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';

/** What an HTTP/2 WebSocketRequest gives as `httpRequest`; see the module comment. */
export class Http2RequestView {
  /** The request's header fields, pseudo-header fields included (names in lower case). */
  readonly headers: IncomingHttpHeaders;
  /** Names and values in the order received, as `IncomingMessage.rawHeaders`. */
  readonly rawHeaders: string[];
  /** `:path`: the request target, as `IncomingMessage.url` (undefined when the client left it out). */
  readonly url: string | undefined;
  /** `:method`: always `CONNECT` here (RFC 8441 §4). */
  readonly method: string;
  /** `'2.0'`, as `Http2ServerRequest.httpVersion`. */
  readonly httpVersion = '2.0';
  /** 2, as `Http2ServerRequest.httpVersionMajor`. */
  readonly httpVersionMajor = 2;
  /** 0, as `Http2ServerRequest.httpVersionMinor`. */
  readonly httpVersionMinor = 0;
  /** `:authority` (the HTTP/2 form of Host), as `Http2ServerRequest.authority`. */
  readonly authority: string | undefined;
  /** `:scheme`, as `Http2ServerRequest.scheme`. */
  readonly scheme: string | undefined;
  /** The stream the request came on. */
  readonly stream: ServerHttp2Stream;
  /** The stream, adapted to look like a socket (lib/http2/stream-socket). */
  readonly socket: Socket;

  constructor(stream: ServerHttp2Stream, socket: Socket, headers: IncomingHttpHeaders, rawHeaders: readonly string[] | undefined) {
    this.stream = stream;
    this.socket = socket;
    this.headers = headers;
    this.rawHeaders = rawHeaders !== undefined ? rawHeaders.slice() : flatten(headers);
    this.url = single(headers[':path']);
    this.method = single(headers[':method']) ?? 'CONNECT';
    this.authority = single(headers[':authority']);
    this.scheme = single(headers[':scheme']);
  }

  /** The socket, under the deprecated name `IncomingMessage.connection` also has. */
  get connection(): Socket {
    return this.socket;
  }
}

/** A pseudo-header field's value (Node gives a string; an array would be a malformed request). */
function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `rawHeaders` rebuilt from the header object, for a Node release whose 'stream' event lacks it. */
function flatten(headers: IncomingHttpHeaders): string[] {
  const raw: string[] = [];
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) raw.push(name, String(item));
  }
  return raw;
}
