/**
 * The few things RedisBroker needs from a Redis client, over the two clients in use: node-redis
 * (`redis` v4 and later) and ioredis (v5 and later). Both are the user's: this package depends on neither,
 * so they are described here structurally and told apart by their shape.
 */

type Listener = (...args: never[]) => void;

/** A node-redis (v4+) client, as far as the broker uses it. */
export interface NodeRedisClient {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  sendCommand(args: Array<string | Buffer>): Promise<unknown>;
  duplicate(): NodeRedisClient;
  subscribe(channel: string, listener: (message: Buffer, channel: string | Buffer) => void, bufferMode: true): Promise<unknown>;
  unsubscribe(channel: string, listener: (message: Buffer, channel: string | Buffer) => void, bufferMode: true): Promise<unknown>;
  sSubscribe(channel: string, listener: (message: Buffer, channel: string | Buffer) => void, bufferMode: true): Promise<unknown>;
  sUnsubscribe(channel: string, listener: (message: Buffer, channel: string | Buffer) => void, bufferMode: true): Promise<unknown>;
  on(event: string, listener: Listener): unknown;
  removeListener(event: string, listener: Listener): unknown;
  listenerCount(event: string): number;
}

/** An ioredis (v5+) client, as far as the broker uses it. */
export interface IORedisClient {
  readonly status: string;
  call(command: string, ...args: Array<string | Buffer>): Promise<unknown>;
  duplicate(): IORedisClient;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  ssubscribe(channel: string): Promise<unknown>;
  sunsubscribe(channel: string): Promise<unknown>;
  disconnect(): void;
  on(event: string, listener: Listener): unknown;
  removeListener(event: string, listener: Listener): unknown;
  listenerCount(event: string): number;
}

/** Either client. */
export type RedisClient = NodeRedisClient | IORedisClient;

/** What a link reports. */
export interface LinkEvents {
  /** Connected (again) and able to run commands. */
  ready(): void;
  /** The client reported an error (a refused connection, a lost one, ...). */
  error(error: Error): void;
  /** A message arrived on a subscribed channel (subscriber links only). */
  message(channel: string, message: Buffer): void;
}

/** One Redis connection as the broker uses it, whichever client is behind it. */
export interface RedisLink {
  /** Whether commands run now (not queued by the client until it reconnects). */
  readonly ready: boolean;
  /** Runs a command. */
  command(args: Array<string | Buffer>): Promise<unknown>;
  /** Subscribes to a channel (`SSUBSCRIBE` when sharded); messages go to `events.message`. */
  subscribe(channel: string, sharded: boolean): Promise<unknown>;
  unsubscribe(channel: string, sharded: boolean): Promise<unknown>;
  /** Starts reporting to `events`, and connects the client if nobody did. */
  start(events: LinkEvents): void;
  /** Stops reporting; `close` also disconnects (for the connections the broker made itself). */
  stop(close: boolean): void;
  /** A second connection to the same server, for subscribing (Redis gives a subscribed connection no other commands). */
  duplicate(): RedisLink;
}

/** Wraps a client of either kind; throws a TypeError for anything else. */
export function linkTo(client: unknown): RedisLink {
  const candidate = client as Partial<NodeRedisClient & IORedisClient> | null;
  if (candidate !== null && typeof candidate === 'object') {
    if (typeof candidate.call === 'function' && typeof candidate.status === 'string') return new IORedisLink(candidate as IORedisClient);
    if (typeof candidate.sendCommand === 'function' && 'isReady' in candidate) return new NodeRedisLink(candidate as NodeRedisClient);
  }
  throw new TypeError('RedisBroker needs a node-redis (v4+) or ioredis (v5+) client.');
}

/** Turns whatever a client emitted into an Error. */
function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/**
 * Takes the broker's 'error' listener off a client it stops using, unless that would leave nobody
 * listening: an 'error' event without a listener ends the process, and a client the broker closed,
 * or one whose owner never listened, still reports its reconnection attempts for a while.
 */
function releaseErrors(client: RedisClient, listener: Listener, closed: boolean): void {
  if (!closed && client.listenerCount('error') > 1) client.removeListener('error', listener);
}

class NodeRedisLink implements RedisLink {
  private events: LinkEvents | null = null;
  private readonly onReady = (): void => this.events?.ready();
  private readonly onError = (error: unknown): void => this.events?.error(asError(error));
  /** One listener for every channel: node-redis keeps a listener set per channel, so re-subscribing adds nothing. */
  private readonly onMessage = (message: Buffer, channel: string | Buffer): void => this.events?.message(String(channel), message);

  constructor(private readonly client: NodeRedisClient) {}

  get ready(): boolean {
    return this.client.isReady;
  }

  command(args: Array<string | Buffer>): Promise<unknown> {
    return this.client.sendCommand(args);
  }

  subscribe(channel: string, sharded: boolean): Promise<unknown> {
    return sharded ? this.client.sSubscribe(channel, this.onMessage, true) : this.client.subscribe(channel, this.onMessage, true);
  }

  unsubscribe(channel: string, sharded: boolean): Promise<unknown> {
    return sharded ? this.client.sUnsubscribe(channel, this.onMessage, true) : this.client.unsubscribe(channel, this.onMessage, true);
  }

  start(events: LinkEvents): void {
    this.events = events;
    this.client.on('ready', this.onReady);
    this.client.on('error', this.onError);
    // node-redis does nothing until connect(); it then retries by itself while the server is down.
    if (!this.client.isOpen) this.client.connect().catch(this.onError);
  }

  stop(close: boolean): void {
    this.client.removeListener('ready', this.onReady);
    if (close) {
      const client = this.client as NodeRedisClient & { destroy?: () => unknown; disconnect?: () => Promise<unknown> };
      // node-redis v5+ has destroy(); v4 disconnect(). Either drops the connection at once.
      try {
        const ended = typeof client.destroy === 'function' ? client.destroy() : client.disconnect?.();
        if (ended instanceof Promise) ended.catch(() => undefined);
      } catch {
        // Closed already.
      }
    }
    releaseErrors(this.client, this.onError, close);
    this.events = null;
  }

  duplicate(): RedisLink {
    return new NodeRedisLink(this.client.duplicate());
  }
}

class IORedisLink implements RedisLink {
  private events: LinkEvents | null = null;
  private readonly onReady = (): void => this.events?.ready();
  private readonly onError = (error: unknown): void => this.events?.error(asError(error));
  private readonly onMessage = (channel: Buffer, message: Buffer): void => this.events?.message(channel.toString(), message);

  constructor(private readonly client: IORedisClient) {}

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  command(args: Array<string | Buffer>): Promise<unknown> {
    const [name, ...rest] = args;
    return this.client.call(String(name), ...rest);
  }

  subscribe(channel: string, sharded: boolean): Promise<unknown> {
    return sharded ? this.client.ssubscribe(channel) : this.client.subscribe(channel);
  }

  unsubscribe(channel: string, sharded: boolean): Promise<unknown> {
    return sharded ? this.client.sunsubscribe(channel) : this.client.unsubscribe(channel);
  }

  start(events: LinkEvents): void {
    this.events = events;
    // ioredis connects by itself (unless lazyConnect) and resubscribes after a reconnect.
    this.client.on('ready', this.onReady);
    this.client.on('error', this.onError);
    this.client.on('messageBuffer', this.onMessage);
    this.client.on('smessageBuffer', this.onMessage);
    if (this.client.status === 'wait') (this.client as IORedisClient & { connect(): Promise<unknown> }).connect().catch(this.onError);
  }

  stop(close: boolean): void {
    this.client.removeListener('ready', this.onReady);
    this.client.removeListener('messageBuffer', this.onMessage);
    this.client.removeListener('smessageBuffer', this.onMessage);
    if (close) this.client.disconnect();
    releaseErrors(this.client, this.onError, close);
    this.events = null;
  }

  duplicate(): RedisLink {
    return new IORedisLink(this.client.duplicate());
  }
}
