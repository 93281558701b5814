/** Placeholder until the client side lands: constructing it throws a clear error. */
class WebSocketClient {
  constructor() {
    throw new Error('WebSocketClient is not implemented yet in this version of the package.');
  }
}

export = WebSocketClient;
