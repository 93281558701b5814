/**
 * RedisBroker: the Broker on Redis pub/sub, with the user's own client (node-redis v4+ or ioredis
 * v5). Channels: one per topic (`<prefix>t:<topic>`, subscribed while this node has local
 * subscribers), one for broadcasts (`<prefix>all`) and one per node for messages to a connection id
 * (`<prefix>n:<node id>`). Publishing uses the given client; subscribing, a second connection the
 * broker makes with `duplicate()` (or the one given as `subscriber`). Delivery is at most once:
 * while Redis is unreachable, publishes wait in a bounded queue (the oldest dropped and counted)
 * and local delivery goes on; once it is back, the broker resubscribes every live topic, rewrites
 * its presence and sends what waited, in order. Semantics: docs/scaling.md.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { NODE_ID_PATTERN, type Broker, type BrokerNode, type OutgoingDelivery } from './broker';
import { BoundedQueue } from './bounded-queue';
import { decodeDelivery, encodeDelivery } from './envelope';
import { linkTo, type RedisClient, type RedisLink } from './redis-link';
import { RedisPresence } from './redis-presence';

/** RedisBroker's options. */
export interface RedisBrokerOptions {
  /** A node-redis (v4+) or ioredis (v5+) client; the broker connects it if nobody did. Required. */
  client: RedisClient;
  /** The connection to subscribe on (default: `client.duplicate()`, which the broker also closes). */
  subscriber?: RedisClient | undefined;
  /** Prefix of every channel and key (`'websocket:'`): nodes with the same prefix form one cluster. */
  prefix?: string | undefined;
  /** This node's id (default: random); letters, digits, `-` and `_`. */
  nodeId?: string | undefined;
  /** Redis 7 sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`), for Redis Cluster. */
  sharded?: boolean | undefined;
  /** Publishes kept while Redis is unreachable (1000); beyond it the oldest are dropped. */
  maxQueuedPublishes?: number | undefined;
  /**
   * Milliseconds to hold the queued publishes after reconnecting (1000): the other nodes reconnect
   * on their own schedule, and a publish that reaches Redis before they resubscribed reaches no one.
   */
  replayDelay?: number | undefined;
  /** Milliseconds between presence heartbeats (5000). */
  heartbeatInterval?: number | undefined;
  /** Milliseconds a silent node still counts (15000): a killed node leaves the counts within this. */
  presenceTtl?: number | undefined;
}

/** What a RedisBroker has done, for monitoring. */
export interface RedisBrokerStats {
  /** Deliveries handed to Redis. */
  published: number;
  /** Deliveries from other nodes passed to this node. */
  received: number;
  /** Publishes waiting for Redis now. */
  queued: number;
  /** Publishes dropped because the queue was full. */
  dropped: number;
  /** Messages on our channels that were not deliveries (ignored). */
  malformed: number;
  /** Errors the Redis clients reported. */
  errors: number;
}

/** A Broker on Redis; see the module comment. */
export class RedisBroker extends EventEmitter implements Broker {
  readonly nodeId: string;
  readonly prefix: string;
  readonly sharded: boolean;
  private readonly pub: RedisLink;
  private readonly sub: RedisLink;
  private readonly ownsSubscriber: boolean;
  private readonly queue: BoundedQueue<[string, Buffer]>;
  private readonly presence: RedisPresence;
  private readonly heartbeatInterval: number;
  private node: BrokerNode | null = null;
  /** Topics this node has local subscribers for: kept so every one is resubscribed after a reconnect. */
  private readonly topics = new Set<string>();
  /** Channels left while the subscriber connection was down: the client may restore them on reconnecting. */
  private readonly staleChannels = new Set<string>();
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly replayDelay: number;
  private replayTimer: NodeJS.Timeout | null = null;
  /** Set by an error, cleared when both connections are ready again: errors are reported once per outage. */
  private down = false;
  /** Both connections have been up at least once: from then on, either one missing is an outage. */
  private wasReady = false;
  private closed = false;
  /** The goodbye to Redis in progress (presence removed), which close() waits for. */
  private leaving: Promise<void> = Promise.resolve();
  private readonly counters = { published: 0, received: 0, malformed: 0, errors: 0 };

  constructor(options: RedisBrokerOptions) {
    super();
    if (typeof options !== 'object' || options === null || options.client === undefined) {
      throw new TypeError('RedisBroker needs { client }: a node-redis (v4+) or ioredis (v5+) client.');
    }
    const nodeId = options.nodeId ?? randomBytes(6).toString('base64url');
    if (!NODE_ID_PATTERN.test(nodeId)) throw new TypeError('nodeId may hold only letters, digits, - and _ (64 at most).');
    this.nodeId = nodeId;
    this.prefix = options.prefix ?? 'websocket:';
    this.sharded = options.sharded === true;
    this.pub = linkTo(options.client);
    this.ownsSubscriber = options.subscriber === undefined;
    this.sub = options.subscriber === undefined ? this.pub.duplicate() : linkTo(options.subscriber);
    this.queue = new BoundedQueue(options.maxQueuedPublishes ?? 1000);
    this.heartbeatInterval = options.heartbeatInterval ?? 5000;
    this.replayDelay = options.replayDelay ?? 1000;
    const ttl = options.presenceTtl ?? 15000;
    if (!(ttl > this.heartbeatInterval)) throw new RangeError('presenceTtl must be longer than heartbeatInterval.');
    this.presence = new RedisPresence(this.pub, this.prefix, nodeId, ttl, 20, (error) => this.commandFailed(error));
  }

  /** Counters since the broker was made. */
  get stats(): RedisBrokerStats {
    return { ...this.counters, queued: this.queue.length, dropped: this.queue.dropped };
  }

  /** Whether both Redis connections are up. */
  get ready(): boolean {
    return this.pub.ready && this.sub.ready;
  }

  // ---- Broker ----

  /** Broker: starts serving `node` (one per broker). */
  attach(node: BrokerNode): void {
    if (this.node !== null && this.node !== node) throw new Error('A RedisBroker serves one WebSocketServer; make one per server.');
    if (this.closed) throw new Error('This RedisBroker was closed.');
    this.node = node;
    this.pub.start({ ready: () => this.onPublisherReady(), error: (error) => this.report(error), message: () => undefined });
    this.sub.start({ ready: () => this.onSubscriberReady(), error: (error) => this.report(error), message: (channel, message) => this.onMessage(channel, message) });
    this.subscribeChannel(this.broadcastChannel());
    this.subscribeChannel(this.nodeChannel(this.nodeId));
    if (this.pub.ready) this.onPublisherReady();
    this.heartbeat = setInterval(() => this.presence.heartbeat(), this.heartbeatInterval);
    this.heartbeat.unref();
  }

  /** Broker: stops serving `node`; see also close(). */
  detach(node: BrokerNode): void {
    if (this.node !== node) return;
    this.leaving = this.stopServing();
  }

  private stopServing(): Promise<void> {
    this.node = null;
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
    if (this.replayTimer !== null) clearTimeout(this.replayTimer);
    this.replayTimer = null;
    const channels = [...this.topics].map((topic) => this.topicChannel(topic));
    channels.push(this.broadcastChannel(), this.nodeChannel(this.nodeId));
    this.topics.clear();
    // While Redis is away, an unsubscribe would wait in the client's queue for a reconnect; it is not needed then.
    const done = this.sub.ready ? channels.map((channel) => this.unsubscribeChannel(channel)) : [];
    done.push(this.presence.leave());
    return Promise.all(done).then(() => undefined);
  }

  /**
   * Detaches, takes this node out of the presence counts (resolved once Redis has done it) and
   * closes the subscriber connection the broker made; the user's client stays open.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.node !== null) this.detach(this.node);
    this.closed = true;
    // The goodbye (unsubscribes, presence) completes before the subscriber connection goes; a Redis
    // that stops answering meanwhile gets CLOSE_WAIT ms, not forever.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.leaving, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT)))]);
    clearTimeout(timer);
    this.pub.stop(false);
    this.sub.stop(this.ownsSubscriber);
  }

  /** Broker: sends to the other nodes, now or (Redis unreachable) once it is back. */
  publish(delivery: OutgoingDelivery): void {
    const channel = this.channelFor(delivery);
    const bytes = encodeDelivery(delivery, this.nodeId);
    // During an outage publishes wait, even if the publishing connection has not noticed yet: sent
    // now, they would be lost. It starts with the first error, or (once both connections were up)
    // with either of them going: Redis going away drops both, and which one notices first is chance.
    const outage = this.down || !this.pub.ready || (this.wasReady && !this.sub.ready);
    if (!outage && this.queue.length === 0) this.send(channel, bytes);
    else this.queue.push([channel, bytes]);
  }

  /** Broker: this node has subscribers of `topic` now. */
  subscribe(topic: string): void {
    if (this.topics.has(topic)) return;
    this.topics.add(topic);
    this.subscribeChannel(this.topicChannel(topic));
  }

  /** Broker: this node's last subscriber of `topic` left. */
  unsubscribe(topic: string): void {
    if (!this.topics.delete(topic)) return;
    this.unsubscribeChannel(this.topicChannel(topic));
  }

  /** Broker: a local count changed; presence is updated shortly. */
  countChanged(topic: string | null): void {
    if (this.node !== null) this.presence.changed(this.node, topic);
  }

  /** Broker: subscribers of `topic` on every live node. */
  async clusterSubscriberCount(topic: string): Promise<number> {
    const own = this.node?.subscriberCount(topic) ?? 0;
    return own + (await this.presence.sumOthers(topic));
  }

  /** Broker: connections on every live node. */
  async clusterConnectionCount(): Promise<number> {
    const own = this.node?.connectionCount() ?? 0;
    return own + (await this.presence.sumOthers(null));
  }

  // ---- Redis ----

  private topicChannel(topic: string): string {
    return `${this.prefix}t:${topic}`;
  }

  private broadcastChannel(): string {
    return `${this.prefix}all`;
  }

  private nodeChannel(nodeId: string): string {
    return `${this.prefix}n:${nodeId}`;
  }

  /** The channel a delivery travels on: its topic's, everyone's, or its target node's. */
  private channelFor(delivery: OutgoingDelivery): string {
    if (delivery.kind === 'publish') return this.topicChannel(delivery.target);
    if (delivery.kind === 'broadcast') return this.broadcastChannel();
    // A clusterId is `<nodeId>:<n>`.
    return this.nodeChannel(delivery.target.slice(0, delivery.target.lastIndexOf(':')));
  }

  private send(channel: string, bytes: Buffer): void {
    this.counters.published++;
    this.pub.command([this.sharded ? 'SPUBLISH' : 'PUBLISH', channel, bytes]).catch((error: unknown) => this.commandFailed(error));
  }

  /**
   * Subscribes now if the subscriber connection is up; otherwise onSubscriberReady() subscribes every
   * live channel once it is. (A subscribe queued in the client while it connects would be sent twice
   * after connecting, once more by the client's own resubscription, which node-redis 4 mishandles.)
   */
  private subscribeChannel(channel: string, connected = this.sub.ready): void {
    this.staleChannels.delete(channel);
    if (!connected) return;
    this.sub.subscribe(channel, this.sharded).catch((error: unknown) => this.commandFailed(error));
  }

  private unsubscribeChannel(channel: string, connected = this.sub.ready): Promise<void> {
    if (!connected) {
      // Queued in the client, it could cross the client's own resubscription: done once it is back.
      this.staleChannels.add(channel);
      return Promise.resolve();
    }
    return this.sub.unsubscribe(channel, this.sharded).then(
      () => undefined,
      (error: unknown) => this.commandFailed(error),
    );
  }

  private onPublisherReady(): void {
    this.recovered();
    if (this.node !== null) this.presence.resync(this.node);
  }

  /** Sends what waited, in order, replayDelay after the outage ended (later publishes queue behind it). */
  private scheduleReplay(): void {
    if (this.queue.length === 0 || this.replayTimer !== null || this.node === null) return;
    this.replayTimer = setTimeout(() => {
      this.replayTimer = null;
      // Down again meanwhile: the next recovery replays.
      if (!this.ready || this.down) return;
      for (const [channel, bytes] of this.queue.drain()) this.send(channel, bytes);
    }, this.replayDelay);
    this.replayTimer.unref();
  }

  private onSubscriberReady(): void {
    this.recovered();
    if (this.node === null) return;
    // The clients resubscribe by themselves too; subscribing again is harmless and does not rely on it.
    this.subscribeChannel(this.broadcastChannel(), true);
    this.subscribeChannel(this.nodeChannel(this.nodeId), true);
    for (const topic of this.topics) this.subscribeChannel(this.topicChannel(topic), true);
    // A node is on a topic's channel only while it has local subscribers (the client may have restored others).
    const stale = [...this.staleChannels];
    this.staleChannels.clear();
    for (const channel of stale) void this.unsubscribeChannel(channel, true);
  }

  /** Both connections are up (again): `'ready'`, and the next error starts a new outage. */
  private recovered(): void {
    if (!this.ready) return;
    this.down = false;
    this.wasReady = true;
    this.scheduleReplay();
    this.emit('ready');
  }

  private onMessage(channel: string, message: Buffer): void {
    const node = this.node;
    if (node === null) return;
    const delivery = decodeDelivery(message);
    if (delivery === null || this.channelFor(delivery) !== channel) {
      // Not ours, or not for this channel: never passed on, never thrown.
      this.counters.malformed++;
      return;
    }
    // Our own deliveries were delivered locally when published.
    if (delivery.origin === this.nodeId) return;
    this.counters.received++;
    try {
      node.deliver(delivery);
    } catch (error) {
      this.emitError(error);
    }
  }

  /**
   * A command failed. While both connections stay up it is the command's own failure, reported by
   * itself; a command rejected because the connection went away belongs to that outage. Which one
   * shows a moment later: clients report a lost connection (and stop being ready) just after
   * rejecting what was in flight.
   */
  private commandFailed(caught: unknown): void {
    if (this.closed) return;
    if (!this.ready || this.down) {
      this.report(caught);
      return;
    }
    setTimeout(() => {
      if (!this.ready || this.down) this.report(caught);
      else this.emitError(caught);
    }, COMMAND_ERROR_GRACE).unref();
  }

  /**
   * Reports a connection error: once per outage, which lasts until both connections are ready again
   * (recovered()); meanwhile publishes queue. Never thrown: Redis being away must not take the
   * WebSocket server down.
   */
  private report(caught: unknown): void {
    // After close() the connections going away is the point, not an error.
    if (this.closed) return;
    // A client reports the lost connection before it says it is no longer ready: readiness cannot tell here.
    const firstOfOutage = !this.down;
    this.down = true;
    if (firstOfOutage) this.emitError(caught);
    else this.counters.errors++;
  }

  /** As `'error'` when someone listens, else as a process warning. */
  private emitError(caught: unknown): void {
    if (this.closed) return;
    this.counters.errors++;
    const cause = caught instanceof Error ? caught : new Error(String(caught));
    const error = new Error(`RedisBroker: ${cause.message}`, { cause });
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else process.emitWarning(`${error.message} (local delivery goes on; publishes wait in a bounded queue)`, 'RedisBrokerWarning');
  }
}

/** Milliseconds after a failed command to tell a lost connection from a failure of its own. */
const COMMAND_ERROR_GRACE = 100;

/** Milliseconds close() waits for Redis to confirm the goodbye. */
const CLOSE_WAIT = 2000;

/** Typed events. */
export interface RedisBroker {
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'ready', listener: () => void): this;
  once(event: 'error', listener: (error: Error) => void): this;
  once(event: 'ready', listener: () => void): this;
}
