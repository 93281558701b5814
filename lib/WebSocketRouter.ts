/** WebSocketRouter: dispatches a WebSocketServer's requests to handlers by path and subprotocol. */
import { EventEmitter } from 'node:events';
import { CAPTURE_REJECTIONS, handleListenerRejection, kRejection } from './promises/listener-rejections';
import type WebSocketServer = require('./WebSocketServer');
import type WebSocketRequest = require('./WebSocketRequest');
import WebSocketRouterRequest = require('./WebSocketRouterRequest');

/** The router's marker for "the client asked for no subprotocol". */
const NO_PROTOCOL = '____no_protocol____';

/** A mounted route. */
interface RouteHandler {
  path: RegExp;
  pathString: string;
  protocol: string;
  callback: (request: WebSocketRouterRequest) => void;
}

/** Router options. */
interface RouterConfig {
  server?: WebSocketServer | null | undefined;
}

/** Routes requests; see the module comment. */
class WebSocketRouter extends EventEmitter {
  /** EventEmitter's hook for a rejected async listener (captureRejections): lib/promises/listener-rejections.ts. */
  [kRejection](error: unknown): void {
    handleListenerRejection(error);
  }

  config: RouterConfig;
  handlers: RouteHandler[] = [];
  server: WebSocketServer | null = null;
  _requestHandler: (request: WebSocketRequest) => void;

  constructor(config?: RouterConfig) {
    // Async listeners' rejections: see lib/promises/listener-rejections.ts.
    super(CAPTURE_REJECTIONS);
    this.config = Object.assign({ server: null }, config);
    this._requestHandler = this.handleRequest.bind(this);
    if (this.config.server) this.attachServer(this.config.server);
  }

  /** Starts routing `server`'s `'request'` events. */
  attachServer(server: WebSocketServer): void {
    if (!server) throw new Error('You must specify a WebSocketServer instance to attach to.');
    this.server = server;
    server.on('request', this._requestHandler);
  }

  /** Stops routing. */
  detachServer(): void {
    if (!this.server) throw new Error('Cannot detach from server: not attached.');
    this.server.removeListener('request', this._requestHandler);
    this.server = null;
  }

  /** Adds a route: an exact path, `'*'` or a RegExp, and a protocol (falsy: requests with none). */
  mount(path: string | RegExp, protocol: string | null | undefined, callback: (request: WebSocketRouterRequest) => void): void {
    if (!path) throw new Error('You must specify a path for this handler.');
    if (!callback) throw new Error('You must specify a callback for this handler.');
    const routeProtocol = (protocol || NO_PROTOCOL).toLocaleLowerCase();
    const pattern = this.pathToRegExp(path);
    if (!(pattern instanceof RegExp)) throw new Error('Path must be specified as either a string or a RegExp.');
    const pathString = pattern.toString();
    if (this.findHandlerIndex(pathString, routeProtocol) !== -1) {
      throw new Error('You may only mount one handler per path/protocol combination.');
    }
    this.handlers.push({ path: pattern, pathString, protocol: routeProtocol, callback });
  }

  /** Removes a route. compat fix: without a protocol it removes the no-protocol route instead of throwing. */
  unmount(path: string | RegExp, protocol?: string | null): void {
    const index = this.findHandlerIndex(this.pathToRegExp(path).toString(), protocol || NO_PROTOCOL);
    if (index === -1) throw new Error('Unable to find a route matching the specified path and protocol.');
    this.handlers.splice(index, 1);
  }

  findHandlerIndex(pathString: string, protocol: string): number {
    const lower = protocol.toLocaleLowerCase();
    return this.handlers.findIndex((handler) => handler.pathString === pathString && handler.protocol === lower);
  }

  /** `'*'` matches everything, other strings match exactly, a RegExp is used as is. */
  pathToRegExp(path: string | RegExp): RegExp {
    if (typeof path !== 'string') return path;
    if (path === '*') return /^.*$/;
    return new RegExp('^' + path.replace(/[-[\]{}()*+?.,\\^$|#\s]/g, '\\$&') + '$');
  }

  /** Finds the first route for the client's protocols (in its order) and path; 404 when none. */
  handleRequest(request: WebSocketRequest): void {
    const requested = request.requestedProtocols !== null && request.requestedProtocols.length > 0 ? request.requestedProtocols : [NO_PROTOCOL];
    const pathname = request.resourceURL.pathname ?? '';
    for (const candidate of requested) {
      const protocol = candidate.toLocaleLowerCase();
      for (const handler of this.handlers) {
        if (handler.path.test(pathname) && (handler.protocol === protocol || handler.protocol === '*')) {
          handler.callback(new WebSocketRouterRequest(request, protocol));
          return;
        }
      }
    }
    request.reject(404, 'No handler is available for the given request.');
  }
}

export = WebSocketRouter;
