/**
 * The broker interface: what a WebSocketServer needs from a message bus to reach the connections of
 * other processes and machines. A broker carries three kinds of delivery between nodes (a topic's
 * publish, a broadcast, a message to one connection id), subscribes to a topic while its node has
 * local subscribers, and may count connections and subscribers across nodes. RedisBroker
 * (./redis-broker) is one; any bus with publish/subscribe can be another.
 */

/** What travels between nodes. */
export type DeliveryKind = 'publish' | 'broadcast' | 'direct';

/** A delivery handed to a broker, to reach other nodes. */
export interface OutgoingDelivery {
  /** `'publish'`: to a topic's subscribers; `'broadcast'`: to every connection; `'direct'`: to one connection. */
  readonly kind: DeliveryKind;
  /** The topic (`'publish'`), the connection id (`'direct'`), or `''` (`'broadcast'`). */
  readonly target: string;
  /** The message; binary or UTF-8 text as `binary` says. */
  readonly data: Buffer;
  readonly binary: boolean;
  /** False: sent uncompressed even where permessage-deflate was agreed. */
  readonly compress: boolean;
  /** The id of a connection to skip (typically the sender's), or `''`. */
  readonly except: string;
}

/** A delivery received from another node. */
export interface IncomingDelivery extends OutgoingDelivery {
  /** The node id of the publisher. */
  readonly origin: string;
}

/** The side of a node that a broker talks to (the server's topics). */
export interface BrokerNode {
  /** Delivers a message from another node to this node's connections. */
  deliver(delivery: IncomingDelivery): void;
  /** This node's open connections. */
  connectionCount(): number;
  /** This node's subscribers of `topic`. */
  subscriberCount(topic: string): number;
  /** Every topic with local subscribers, and how many. */
  topicCounts(): Iterable<[string, number]>;
}

/** A message bus between nodes; see the module comment. */
export interface Broker {
  /** This node's id, unique in the cluster; connection ids start with it. */
  readonly nodeId: string;
  /** Starts serving `node`: from now on deliveries for it arrive through `node.deliver`. One node per broker. */
  attach(node: BrokerNode): void;
  /** Stops serving `node` (its server unmounted or shut down). */
  detach(node: BrokerNode): void;
  /** Sends a delivery to the other nodes; at most once, in order per publisher and target. */
  publish(delivery: OutgoingDelivery): void;
  /** The node now has local subscribers of `topic`: deliveries published to it must reach it. */
  subscribe(topic: string): void;
  /** The node's last local subscriber of `topic` left. */
  unsubscribe(topic: string): void;
  /** A local count changed: `topic`'s subscribers, or (null) the connections. */
  countChanged(topic: string | null): void;
  /** Subscribers of `topic` on every live node, this one included. */
  clusterSubscriberCount(topic: string): Promise<number>;
  /** Open connections on every live node, this one included. */
  clusterConnectionCount(): Promise<number>;
}

/** Whether `value` looks like a Broker (the server config's `broker`). */
export function isBroker(value: unknown): value is Broker {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<Record<keyof Broker, unknown>>;
  return typeof candidate.nodeId === 'string' && typeof candidate.attach === 'function' && typeof candidate.publish === 'function';
}

/** Node ids and connection ids: letters, digits, `-` and `_`, so `node:seq` splits at the colon. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
