/** Placeholder until the client side lands: constructing it throws a clear error. */
class WebSocketRouter {
  constructor() {
    throw new Error('WebSocketRouter is not implemented yet in this version of the package.');
  }
}

export = WebSocketRouter;
