/** Ids: one random id per process (a node without a broker), and connection ids made from a node's. */
import { randomBytes } from 'node:crypto';

/** This process's node id when no broker names one: 8 random characters, URL-safe. */
export const processNodeId: string = randomBytes(6).toString('base64url');

/** A connection id: the node's id, a colon, and a per-node sequence number in base 36. */
function connectionId(nodeId: string, sequence: number): string {
  return `${nodeId}:${sequence.toString(36)}`;
}

/** The node part of a connection id, or null when the id has none. */
export function nodeOf(id: string): string | null {
  const colon = id.lastIndexOf(':');
  return colon > 0 ? id.slice(0, colon) : null;
}

/** One sequence for the whole process: servers that share a node id (none has a broker) never hand out the same id. */
let sequence = 0;

/** The next connection id of node `nodeId`. */
export function nextConnectionId(nodeId: string): string {
  return connectionId(nodeId, ++sequence);
}

/** An id for a connection no server accepted (a client's). */
export function localConnectionId(): string {
  return nextConnectionId(processNodeId);
}
