/**
 * Presence in Redis: how many connections, and subscribers per topic, each live node has. Each node
 * keeps one hash (`#` = its connections, `t:<topic>` = a topic's subscribers) that expires unless
 * its heartbeat renews it, and lists itself in a set of nodes. Counting reads every listed node's
 * hash; a node killed without a goodbye stops renewing, so its hash expires after the TTL and it
 * stops counting (and is then taken off the list). Expiry runs on Redis's clock, so the nodes'
 * clocks need not agree. Keys share one hash tag, so on Redis Cluster they live in one slot.
 */
import type { BrokerNode } from './broker';
import type { RedisLink } from './redis-link';

const CONNECTIONS = '#';

/** One node's presence; see the module comment. */
export class RedisPresence {
  private readonly nodesKey: string;
  private readonly ownKey: string;
  private dirtyTopics = new Set<string>();
  private dirtyConnections = false;
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly link: RedisLink,
    private readonly prefix: string,
    private readonly nodeId: string,
    /** Milliseconds a node's hash lives without a heartbeat. */
    private readonly ttl: number,
    /** Milliseconds changes may wait, so a burst of subscriptions is one write. */
    private readonly delay: number,
    private readonly onError: (error: Error) => void,
  ) {
    this.nodesKey = `${prefix}{presence}:nodes`;
    this.ownKey = this.keyOf(nodeId);
  }

  private keyOf(nodeId: string): string {
    return `${this.prefix}{presence}:node:${nodeId}`;
  }

  /** Writes this node's whole state afresh (at start and after each reconnect) and renews it. */
  resync(node: BrokerNode): void {
    this.dirtyTopics.clear();
    this.dirtyConnections = false;
    const fields: string[] = [CONNECTIONS, String(node.connectionCount())];
    for (const [topic, count] of node.topicCounts()) fields.push(`t:${topic}`, String(count));
    this.run(['DEL', this.ownKey]);
    this.run(['HSET', this.ownKey, ...fields]);
    this.heartbeat();
  }

  /** Renews this node's hash and its place in the node list. */
  heartbeat(): void {
    if (!this.link.ready) return;
    this.run(['PEXPIRE', this.ownKey, String(this.ttl)]);
    this.run(['SADD', this.nodesKey, this.nodeId]);
  }

  /** A count changed; written after `delay`, together with the others. */
  changed(node: BrokerNode, topic: string | null): void {
    if (topic === null) this.dirtyConnections = true;
    else this.dirtyTopics.add(topic);
    if (this.flushTimer !== null) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flush(node);
    }, this.delay);
    this.flushTimer.unref();
  }

  private flush(node: BrokerNode): void {
    // While Redis is away the changes stay dirty; the resync after reconnecting writes them all.
    if (!this.link.ready) return;
    const set: string[] = [];
    const gone: string[] = [];
    if (this.dirtyConnections) set.push(CONNECTIONS, String(node.connectionCount()));
    for (const topic of this.dirtyTopics) {
      const count = node.subscriberCount(topic);
      if (count > 0) set.push(`t:${topic}`, String(count));
      else gone.push(`t:${topic}`);
    }
    this.dirtyTopics.clear();
    this.dirtyConnections = false;
    if (set.length > 0) this.run(['HSET', this.ownKey, ...set]);
    if (gone.length > 0) this.run(['HDEL', this.ownKey, ...gone]);
    this.run(['PEXPIRE', this.ownKey, String(this.ttl)]);
  }

  /** Sums `field` over the other live nodes (this node's own count is the caller's, exact and current). */
  async sumOthers(topic: string | null): Promise<number> {
    if (!this.link.ready) throw new Error('RedisBroker: Redis is unreachable, so counts across nodes are unknown.');
    const nodes = ((await this.link.command(['SMEMBERS', this.nodesKey])) as unknown[]).map(String);
    const field = topic === null ? CONNECTIONS : `t:${topic}`;
    const others = nodes.filter((id) => id !== this.nodeId);
    const replies = await Promise.all(others.map((id) => this.link.command(['HMGET', this.keyOf(id), CONNECTIONS, field])));
    let total = 0;
    const dead: string[] = [];
    replies.forEach((reply, i) => {
      const [connections, value] = reply as [unknown, unknown];
      // No connection count: the hash expired, the node is gone.
      if (connections === null || connections === undefined) dead.push(others[i]!);
      else total += Number(value ?? 0) || 0;
    });
    if (dead.length > 0) this.run(['SREM', this.nodesKey, ...dead]);
    return total;
  }

  /** Leaves the cluster: this node stops counting at once. Resolves when Redis has done it (or could not). */
  async leave(): Promise<void> {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (!this.link.ready) return;
    await Promise.all([this.link.command(['SREM', this.nodesKey, this.nodeId]), this.link.command(['DEL', this.ownKey])]).catch(this.onError);
  }

  private run(args: string[]): void {
    this.link.command(args).catch(this.onError);
  }
}
