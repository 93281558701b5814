// Topics and the Redis broker (docs/scaling.md), as a consumer types them: compiled against our
// declarations only (strict), from the root and from the broker's deep path.
import * as http from 'http';
import * as websocket from 'websocket';
import { RedisBroker, type Broker, type BrokerNode, type IncomingDelivery, type OutgoingDelivery, type PublishOptions, type RedisBrokerOptions } from 'websocket';
import { RedisBroker as DeepRedisBroker } from 'websocket/lib/brokers/redis-broker';

declare const client: RedisBrokerOptions['client'];
const broker: RedisBroker = new DeepRedisBroker({ client, prefix: 'chat:', sharded: false, maxQueuedPublishes: 100, replayDelay: 500, heartbeatInterval: 1000, presenceTtl: 3000 });
broker.on('error', (error: Error) => error.message);
broker.on('ready', () => undefined);
const stats: { published: number; dropped: number; malformed: number; queued: number } = broker.stats;
const asBroker: Broker = broker;
void stats;
void asBroker;

const server = new websocket.server({ httpServer: http.createServer(), broker });
server.on('connect', (connection) => {
  const subscribed: boolean = connection.subscribe('room');
  const left: boolean = connection.unsubscribe('room');
  const is: boolean = connection.isSubscribed('room');
  const topics: string[] = connection.topics;
  const id: string = connection.clusterId;
  const options: PublishOptions = { except: connection, compress: false, local: true };
  const delivered: number = server.publish('room', 'text', options);
  server.publish('room', Buffer.from([1]), { except: id });
  const sent: boolean = server.sendTo(id, { toString: () => 'any stringified' }, { compress: true });
  const local: number = server.subscriberCount('room');
  const nodeId: string = server.nodeId;
  void Promise.all([server.clusterSubscriberCount('room'), server.clusterConnectionCount()]).then(([a, b]: [number, number]) => a + b);
  void [subscribed, left, is, topics, delivered, sent, local, nodeId];
});

// Another broker: the interface is small enough to implement.
class LoopBroker implements Broker {
  readonly nodeId = 'loop';
  private node: BrokerNode | null = null;
  attach(node: BrokerNode): void {
    this.node = node;
  }
  detach(): void {
    this.node = null;
  }
  publish(delivery: OutgoingDelivery): void {
    const incoming: IncomingDelivery = { ...delivery, origin: 'elsewhere' };
    this.node?.deliver(incoming);
  }
  subscribe(): void {}
  unsubscribe(): void {}
  countChanged(): void {}
  clusterSubscriberCount(topic: string): Promise<number> {
    return Promise.resolve(this.node?.subscriberCount(topic) ?? 0);
  }
  clusterConnectionCount(): Promise<number> {
    return Promise.resolve(this.node?.connectionCount() ?? 0);
  }
}
new websocket.server({ httpServer: http.createServer(), broker: new LoopBroker() });

// @ts-expect-error a topic is a string
server.publish(42, 'x');
// @ts-expect-error the broker needs a client
new RedisBroker({});
