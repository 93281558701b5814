// Mistakes that must NOT compile, against @types/websocket and against ours alike. Each one is a call
// the runtime rejects (it throws, or silently misbehaves), so a declaration that let it through would
// hide a real bug. Every case errors with and without `strict`, so both ours configs agree.
import * as http from 'http';
import * as websocket from 'websocket';

declare const httpServer: http.Server;
declare const conn: websocket.connection;
declare const request: websocket.request;
declare const message: websocket.Message;
declare const w3c: websocket.w3cwebsocket;
declare const router: websocket.router;

// sendUTF needs the data: the runtime calls data.toString() and throws a TypeError.
// @ts-expect-error
conn.sendUTF();

// sendBytes throws "You must pass a Node Buffer object" for strings and for plain typed arrays.
// @ts-expect-error
conn.sendBytes('hello');
// @ts-expect-error
conn.sendBytes(new Uint8Array(4));

// A close code is a number; a string fails the runtime's close-code validation.
// @ts-expect-error
conn.close('going away');

// Message is a union: utf8Data is only there after narrowing on `type`.
// @ts-expect-error
console.log(message.utf8Data);

// A server config without httpServer makes mount() throw.
// @ts-expect-error
new websocket.server({ keepalive: true });

// Option names are checked: `keepAlive` is a typo of `keepalive` that the runtime would ignore.
// @ts-expect-error
new websocket.server({ httpServer, keepAlive: false });

// accept()'s cookies must be an array: the runtime throws 'Value supplied for "cookies" argument must be an array.'
// @ts-expect-error
request.accept('chat', request.origin, 'session=1');

// client.connect needs a URL.
// @ts-expect-error
new websocket.client().connect();

// W3CWebSocket needs a URL, and binaryType only takes 'arraybuffer' (anything else throws a SyntaxError).
// @ts-expect-error
new websocket.w3cwebsocket();
// @ts-expect-error
w3c.binaryType = 'blob';

// router.mount has no two-argument form: the runtime throws "You must specify a callback for this handler."
// @ts-expect-error
router.mount('/chat', (req: websocket.IRouterRequest) => req.accept());
