/** The package version, read from package.json at load time as WebSocket-Node does. */
// compat: WebSocket-Node exports `require('../package.json').version`.
const version: string = (require('../package.json') as { version: string }).version;
export = version;
