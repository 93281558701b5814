/** Configuration shapes and WebSocket-Node's defaults for servers, clients and connections. */
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import type * as https from 'node:https';
import type { DeflateOptions } from './extensions/deflate-negotiation';
import type { Broker } from './brokers/broker';

/** Options of permessage-deflate (RFC 7692), on server and client configs (see extensions/permessage-deflate). */
export type PerMessageDeflateOptions = DeflateOptions;

/** Options shared by servers and clients; they reach every connection. */
export interface IConfig {
  /** Largest frame payload accepted, in bytes (server 64 KiB, client 1 MiB). */
  maxReceivedFrameSize?: number | undefined;
  /** Largest fragmented message accepted, in bytes (server 1 MiB, client 8 MiB). */
  maxReceivedMessageSize?: number | undefined;
  /** Split outgoing messages above `fragmentationThreshold` into several frames. */
  fragmentOutgoingMessages?: boolean | undefined;
  /** Payload bytes per outgoing fragment (16 KiB). */
  fragmentationThreshold?: number | undefined;
  /** Emit whole messages; when false, every frame is emitted as `'frame'` and no `'message'`. */
  assembleFragments?: boolean | undefined;
  /** Milliseconds to wait for the peer's close before the socket is destroyed (5000). */
  closeTimeout?: number | undefined;
  /** Passed to `socket.setNoDelay()` (true: Nagle off). */
  disableNagleAlgorithm?: boolean | undefined;
  /** New: negotiate permessage-deflate (RFC 7692); off by default. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions | undefined;
  /** New: most bytes queued for one connection before it is dropped with 1008 (0 = no limit). */
  maxBufferedBytes?: number | undefined;
  /**
   * New: unsent bytes above which reading from the peer stops until its socket drains (4 MiB;
   * 0 = never), so a peer that sends without reading our replies cannot grow our memory.
   */
  backpressureThreshold?: number | undefined;
  /** Server-side keepalive options; a client honours them too when given. */
  keepalive?: boolean | undefined;
  keepaliveInterval?: number | undefined;
  dropConnectionOnKeepaliveTimeout?: boolean | undefined;
  keepaliveGracePeriod?: number | undefined;
  useNativeKeepalive?: boolean | undefined;
}

/** WebSocketServer options. */
export interface IServerConfig extends IConfig {
  /** The http(s) server(s) whose `'upgrade'` events are handled. Required. */
  // Typed as @types/websocket has it, so code that reads it keeps compiling; an http2 server (new,
  // RFC 8441: docs/http2.md) is accepted at run time, cast to one of these.
  httpServer: http.Server | https.Server | Array<http.Server | https.Server>;
  /** Accept every request with its first protocol; unsafe without an origin check. */
  autoAcceptConnections?: boolean | undefined;
  /** Ignore X-Forwarded-For when computing `remoteAddress`. */
  ignoreXForwardedFor?: boolean | undefined;
  /** Parse the Cookie header into `request.cookies`. */
  parseCookies?: boolean | undefined;
  /** Parse Sec-WebSocket-Extensions into `request.requestedExtensions`. */
  parseExtensions?: boolean | undefined;
  /** New: milliseconds an upgrade request may stay unanswered before it is refused with 408 (30000; 0 = never). */
  handshakeTimeout?: number | undefined;
  /**
   * New: a message bus to the other nodes of a cluster (for example a RedisBroker), so that
   * `publish`, `broadcast*` and `sendTo` reach connections on every node (docs/scaling.md).
   */
  broker?: Broker | undefined;
}

/** WebSocketClient options. */
export interface IClientConfig extends IConfig {
  /** 13 (RFC 6455) or 8 (hybi-08). */
  webSocketVersion?: number | undefined;
  /** Options for `https.request` on wss:// URLs. */
  tlsOptions?: https.RequestOptions | undefined;
  /**
   * New: open WebSockets over HTTP/2 (RFC 8441) where the server offers it, else HTTP/1.1. `true`:
   * one shared session per origin (TLS with ALPN for wss://, cleartext h2c for ws://); a
   * `ClientHttp2Session`: streams on that session. Default off: HTTP/1.1 only (docs/http2.md).
   */
  http2?: boolean | http2.ClientHttp2Session | undefined;
}

/** The merged config every connection receives: defaults plus whatever keys the user passed. */
export interface ConnectionConfig {
  maxReceivedFrameSize: number;
  maxReceivedMessageSize: number;
  fragmentOutgoingMessages: boolean;
  fragmentationThreshold: number;
  assembleFragments: boolean;
  closeTimeout: number;
  disableNagleAlgorithm: boolean;
  keepalive?: boolean | undefined;
  keepaliveInterval?: number | undefined;
  dropConnectionOnKeepaliveTimeout?: boolean | undefined;
  keepaliveGracePeriod?: number | undefined;
  useNativeKeepalive?: boolean | undefined;
  perMessageDeflate?: boolean | PerMessageDeflateOptions | undefined;
  maxBufferedBytes?: number | undefined;
  backpressureThreshold?: number | undefined;
  [key: string]: unknown;
}

/** The merged server config (`server.config`). */
export interface ServerConfig extends ConnectionConfig {
  httpServer: Array<http.Server | https.Server>;
  keepalive: boolean;
  keepaliveInterval: number;
  dropConnectionOnKeepaliveTimeout: boolean;
  keepaliveGracePeriod: number;
  useNativeKeepalive: boolean;
  autoAcceptConnections: boolean;
  ignoreXForwardedFor: boolean;
  parseCookies: boolean;
  parseExtensions: boolean;
  handshakeTimeout?: number | undefined;
  broker?: Broker | undefined;
}

/** WebSocket-Node's server defaults (reference §2.1). */
export function serverDefaults(): Omit<ServerConfig, 'httpServer'> & { httpServer: null } {
  return {
    httpServer: null,
    maxReceivedFrameSize: 0x10000,
    maxReceivedMessageSize: 0x100000,
    fragmentOutgoingMessages: true,
    fragmentationThreshold: 0x4000,
    keepalive: true,
    keepaliveInterval: 20000,
    dropConnectionOnKeepaliveTimeout: true,
    keepaliveGracePeriod: 10000,
    useNativeKeepalive: false,
    assembleFragments: true,
    autoAcceptConnections: false,
    ignoreXForwardedFor: false,
    parseCookies: true,
    parseExtensions: true,
    disableNagleAlgorithm: true,
    closeTimeout: 5000,
  };
}

/** WebSocket-Node's client defaults (reference §6.1). */
export function clientDefaults(): ConnectionConfig & { webSocketVersion: number; tlsOptions: https.RequestOptions } {
  return {
    maxReceivedFrameSize: 0x100000,
    maxReceivedMessageSize: 0x800000,
    fragmentOutgoingMessages: true,
    fragmentationThreshold: 0x4000,
    webSocketVersion: 13,
    assembleFragments: true,
    disableNagleAlgorithm: true,
    closeTimeout: 5000,
    tlsOptions: {},
  };
}
