// Code written against @types/websocket before 1.0.10, which exported `IMessage`
// ({ type: string; utf8Data?: string; binaryData?: Buffer }). 1.0.10 dropped it, so this file is
// compiled only against our declarations, which bring the name back.
import * as websocket from 'websocket';
import { connection, IMessage } from 'websocket';
import WebSocket = require('websocket');

// A named handler typed with IMessage, passed straight to on('message').
function handleMessage(message: websocket.IMessage): void {
  if (message.type != 'utf8') {
    return;
  }
  const data = message.utf8Data;
  if (data === undefined) return;
  console.log(JSON.parse(data));
}

export function wire(conn: connection): void {
  conn.on('message', handleMessage);

  conn.on('message', (message: IMessage) => {
    if (message.type === 'utf8') {
      console.log(message.utf8Data!.length);
    } else if (message.type === 'binary') {
      console.log('Received Binary Message of ' + message.binaryData!.length + ' bytes');
      conn.sendBytes(message.binaryData!);
    }
  });

  // The listener takes the new union and forwards it to an old IMessage-typed helper.
  conn.on('message', (message) => onMessage(1, message));
  conn.addListener('message', (message: WebSocket.IMessage) => message.type);
}

function onMessage(id: number, message: WebSocket.IMessage): { id: number; text: string } {
  return { id, text: message.utf8Data || '' };
}

// A value of the current union is usable where old code expects IMessage.
export function downgrade(message: websocket.Message): IMessage {
  return message;
}

// Test doubles built as IMessage literals.
export const fakeText: IMessage = { type: 'utf8', utf8Data: 'hello' };
export const fakeBinary: IMessage = { type: 'binary', binaryData: Buffer.from([1, 2]) };
