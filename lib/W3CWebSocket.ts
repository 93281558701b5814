/** Placeholder until the client side lands: constructing it throws a clear error. */
class W3CWebSocket {
  constructor() {
    throw new Error('W3CWebSocket is not implemented yet in this version of the package.');
  }
}

export = W3CWebSocket;
