/**
 * A server's topics and connection ids: who subscribes to what, fan-out that encodes each message
 * once and writes the same bytes to every subscriber, and, with a broker, the link to the other
 * nodes (a node subscribes to a topic on the bus only while it has local subscribers). Connections
 * are seen through the structural TopicMember, so this layer imports no public class.
 */
import { utf8Bytes } from '../codec/utf8';
import type { Broker, BrokerNode, IncomingDelivery, OutgoingDelivery } from '../brokers/broker';
import type { SharedMessage } from '../protocol/sender';
import type { WriteCallback } from '../protocol/output-sink';
import { FanOutMessage } from './shared-message';
import { nextConnectionId, nodeOf, processNodeId } from './node-id';

/** A connection as topics use it. */
export interface TopicMember {
  readonly connected: boolean;
  /** The topics this connection subscribes to; null until its first subscription. */
  _topics: Set<string> | null;
  /** Its cluster-unique id, once someone asked for it. */
  _id: string | null;
  readonly _protocol: { readonly sender: { sendShared(message: SharedMessage, callback?: WriteCallback, defer?: boolean): boolean } };
}

/** `server.publish()`'s options. */
export interface PublishOptions {
  /** A connection (or connection id) that must not receive this message, typically its sender. */
  except?: TopicMember | string | undefined;
  /** False: sent uncompressed even where permessage-deflate was agreed. */
  compress?: boolean | undefined;
  /** True: reaches this node's subscribers only, not the broker's other nodes. */
  local?: boolean | undefined;
}

/** What a server sends: a Buffer is binary, anything else is text by its `toString()`. */
export type Payload = Buffer | { toString(): string };

/** A server's topics; see the module comment. */
export class ServerTopics implements BrokerNode {
  private readonly subscribers = new Map<string, Set<TopicMember>>();
  /** Connections whose id was handed out, by id: `sendTo` can only target those. */
  private readonly ids = new Map<string, TopicMember>();
  readonly nodeId: string;

  constructor(
    /** The server's open connections (for broadcasts from other nodes and counts). */
    private readonly connections: () => readonly TopicMember[],
    private readonly broker: Broker | null,
  ) {
    this.nodeId = broker?.nodeId ?? processNodeId;
    broker?.attach(this);
  }

  /** Whether a broker links this node to others. */
  get hasBroker(): boolean {
    return this.broker !== null;
  }

  /** Subscribers of `topic` on every live node (this node's alone without a broker). */
  clusterSubscriberCount(topic: string): Promise<number> {
    return this.broker === null ? Promise.resolve(this.subscriberCount(topic)) : this.broker.clusterSubscriberCount(topic);
  }

  /** Open connections on every live node (this node's alone without a broker). */
  clusterConnectionCount(): Promise<number> {
    return this.broker === null ? Promise.resolve(this.connectionCount()) : this.broker.clusterConnectionCount();
  }

  /** Ends the link to the broker. */
  detach(): void {
    this.broker?.detach(this);
  }

  // ---- membership ----

  /** Adds `member` to `topic`; false when it was subscribed already or is closed. */
  subscribe(member: TopicMember, topic: string): boolean {
    if (typeof topic !== 'string') throw new TypeError('A topic must be a string.');
    if (!member.connected) return false;
    const topics = (member._topics ??= new Set());
    if (topics.has(topic)) return false;
    topics.add(topic);
    let set = this.subscribers.get(topic);
    if (set === undefined) {
      set = new Set();
      this.subscribers.set(topic, set);
      this.broker?.subscribe(topic);
    }
    set.add(member);
    this.broker?.countChanged(topic);
    return true;
  }

  /** Removes `member` from `topic`; false when it was not subscribed. */
  unsubscribe(member: TopicMember, topic: string): boolean {
    const topics = member._topics;
    if (topics === null || !topics.delete(topic)) return false;
    this.leave(member, topic);
    return true;
  }

  /** Removes a closing connection from all its topics and forgets its id. */
  forget(member: TopicMember): void {
    const topics = member._topics;
    if (topics !== null) {
      member._topics = null;
      for (const topic of topics) this.leave(member, topic);
    }
    if (member._id !== null) this.ids.delete(member._id);
    this.broker?.countChanged(null);
  }

  private leave(member: TopicMember, topic: string): void {
    const set = this.subscribers.get(topic);
    if (set === undefined || !set.delete(member)) return;
    if (set.size === 0) {
      this.subscribers.delete(topic);
      this.broker?.unsubscribe(topic);
    }
    this.broker?.countChanged(topic);
  }

  /** BrokerNode: this node's subscribers of `topic`. */
  subscriberCount(topic: string): number {
    return this.subscribers.get(topic)?.size ?? 0;
  }

  /** BrokerNode: this node's open connections. */
  connectionCount(): number {
    return this.connections().length;
  }

  /** BrokerNode: every topic with local subscribers. */
  *topicCounts(): Iterable<[string, number]> {
    for (const [topic, set] of this.subscribers) yield [topic, set.size];
  }

  /** A connection was accepted: presence counts it. */
  added(): void {
    this.broker?.countChanged(null);
  }

  /** The id of `member`, made on first use and from then on reachable by `sendTo`. */
  idOf(member: TopicMember): string {
    let id = member._id;
    if (id === null) {
      id = member._id = nextConnectionId(this.nodeId);
      if (member.connected) this.ids.set(id, member);
    }
    return id;
  }

  // ---- sending ----

  /** Sends to the local subscribers of `topic` and, with a broker, to every other node's. Returns the local deliveries. */
  publish(topic: string, data: Payload, options?: PublishOptions): number {
    if (typeof topic !== 'string') throw new TypeError('A topic must be a string.');
    const message = messageOf(data, options?.compress !== false);
    const except = options?.except;
    const set = this.subscribers.get(topic);
    let delivered = 0;
    if (set !== undefined) {
      const skip = typeof except === 'string' ? this.ids.get(except) : except;
      delivered = sendToAll(set, message, skip);
    }
    if (options?.local !== true) this.forward('publish', topic, message, typeof except === 'string' ? except : '');
    return delivered;
  }

  /** A broadcast made locally (by `broadcast*`): the other nodes get it through the broker. */
  forwardBroadcast(message: FanOutMessage): void {
    this.forward('broadcast', '', message, '');
  }

  /**
   * Sends to the connection with this id, on this node or, through the broker, on another.
   * False when the id names no open local connection, or another node while there is no broker.
   */
  sendTo(id: string, data: Payload, options?: { compress?: boolean | undefined }): boolean {
    const message = messageOf(data, options?.compress !== false);
    const local = this.ids.get(id);
    if (local !== undefined) return local.connected && local._protocol.sender.sendShared(message, undefined, true);
    const node = nodeOf(id);
    if (node === null || node === this.nodeId || this.broker === null) return false;
    this.forward('direct', id, message, '');
    return true;
  }

  private forward(kind: OutgoingDelivery['kind'], target: string, message: FanOutMessage, except: string): void {
    this.broker?.publish({ kind, target, except, data: message.payload, binary: message.opcode === 0x2, compress: message.compress });
  }

  /** BrokerNode: a delivery from another node. */
  deliver(delivery: IncomingDelivery): void {
    const message = new FanOutMessage(delivery.data, delivery.binary, delivery.compress);
    if (delivery.kind === 'direct') {
      const member = this.ids.get(delivery.target);
      if (member !== undefined && member.connected) member._protocol.sender.sendShared(message, undefined, true);
      return;
    }
    const skip = delivery.except === '' ? undefined : this.ids.get(delivery.except);
    if (delivery.kind === 'broadcast') {
      sendToAll(this.connections(), message, skip);
      return;
    }
    const set = this.subscribers.get(delivery.target);
    if (set !== undefined) sendToAll(set, message, skip);
  }
}

/** The shared message for `data`: a Buffer as binary, anything else as UTF-8 text. */
export function messageOf(data: Payload, compress: boolean): FanOutMessage {
  if (Buffer.isBuffer(data)) return new FanOutMessage(data, true, compress);
  if (data === null || data === undefined || typeof data.toString !== 'function') {
    throw new TypeError('Data provided must either be a Node Buffer or implement toString()');
  }
  return new FanOutMessage(utf8Bytes(data.toString()), false, compress);
}

/** Writes one message to every member but `skip`: the same bytes for all that share settings. */
function sendToAll(members: Iterable<TopicMember>, message: FanOutMessage, skip: TopicMember | undefined): number {
  let count = 0;
  for (const member of members) {
    if (member === skip) continue;
    // Deferred to the end of this event-loop turn: the publishes of a turn cost each connection one write.
    if (member._protocol.sender.sendShared(message, undefined, true)) count++;
  }
  return count;
}
