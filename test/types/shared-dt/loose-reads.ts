// Code that compiles against @types/websocket 1.0.10 only without strictNullChecks, as under
// DefinitelyTyped's own settings: optional members read straight into their non-optional type.
// Compiled by tsconfig.atypes.dt.json and tsconfig.dt.json only (strict settings reject it against
// @types too).
import * as websocket from 'websocket';

export function looseReads(
  cookie: websocket.ICookie,
  server: websocket.server,
  clientConfig: websocket.IClientConfig,
  ws: websocket.w3cwebsocket,
): void {
  const maxage: number = cookie.maxage;
  const path: string = cookie.path;
  const expires: Date = cookie.expires;
  const secure: boolean = cookie.secure;
  const config: websocket.IServerConfig = server.config;
  const keepalive: boolean = server.config.keepalive;
  const interval: number = server.config.keepaliveInterval;
  const version: number = clientConfig.webSocketVersion;
  const frameLimit: number = clientConfig.maxReceivedFrameSize;
  const protocol: string = ws.protocol;
  const connection: websocket.connection = ws._connection;
  const open: () => void = ws.onopen;
  const close: (event: websocket.ICloseEvent) => void = ws.onclose;
  console.log(maxage, path, expires, secure, config, keepalive, interval, version, frameLimit, protocol, connection, open, close);
}
