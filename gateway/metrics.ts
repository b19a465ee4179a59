/**
 * The gateway's Prometheus metrics, served on `/metrics`. Each gateway has its own registry, so several
 * gateways in one process (tests) never clash. Consumer and projector figures are set by the health sampler
 * (health.ts) from its latest sample, heartbeat ages read from what it heard at each scrape; command latency by
 * the command gateway (commands.ts).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type GatewayMetrics = ReturnType<typeof createMetrics>;

export interface HeartbeatAge {
  process: string;
  instance: string;
  seconds: number;
}

export function createMetrics() {
  const registry = new Registry();
  // Process metrics: CPU, memory, event loop delay, handles, GC.
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let heartbeatAges: () => HeartbeatAge[] = () => [];
  return {
    registry,
    /** Where process_heartbeat_age_seconds reads each process's age when scraped (the health sampler's heartbeats). */
    readHeartbeatAgesFrom(source: () => HeartbeatAge[]) {
      heartbeatAges = source;
    },
    heartbeatAge: new Gauge({
      name: 'process_heartbeat_age_seconds',
      help: 'Seconds since the gateway last heard the heartbeat of each service process instance (PostgreSQL NOTIFY); past 2.5 it is silent and /readyz answers 503 unless others serve its consumers',
      labelNames: ['process', 'instance'] as const,
      registers,
      collect() {
        this.reset();
        for (const { process, instance, seconds } of heartbeatAges()) this.set({ process, instance }, seconds);
      },
    }),
    consumerLag: new Gauge({
      name: 'consumer_group_lag',
      help: 'Messages waiting for a consumer group: high watermark minus committed offset, per partition',
      labelNames: ['group', 'topic', 'partition'] as const,
      registers,
    }),
    projectorLag: new Gauge({
      name: 'projector_lag',
      help: 'Events a projector has not applied yet: high watermark minus its next_offset in PostgreSQL, per partition',
      labelNames: ['projector', 'topic', 'partition'] as const,
      registers,
    }),
    consumerRestarts: new Counter({
      name: 'consumer_group_restarts_total',
      help: 'Members that joined a consumer group after the gateway first sampled it (restarts and rejoins)',
      labelNames: ['group'] as const,
      registers,
    }),
    // Set by gateway/connectors.ts when CONNECT_URL is known: 1 for each connector's and task's current state only.
    connectorState: new Gauge({
      name: 'connect_connector_state',
      help: 'A Kafka Connect connector that writes a topic of the system: 1 with its current state (RUNNING, FAILED, PAUSED, STOPPED, UNASSIGNED, RESTARTING, or NOT_REGISTERED / UNREACHABLE)',
      labelNames: ['connector', 'state'] as const,
      registers,
    }),
    connectorTaskState: new Gauge({
      name: 'connect_task_state',
      help: 'A task of such a connector: 1 with its current state (RUNNING, FAILED, PAUSED, UNASSIGNED, RESTARTING)',
      labelNames: ['connector', 'task', 'state'] as const,
      registers,
    }),
    deadLetters: new Gauge({
      name: 'dead_letters',
      help: 'Messages on the dead.letters topic',
      registers,
    }),
    commandSeconds: new Histogram({
      name: 'command_duration_seconds',
      help: 'Time from a mutation sending its command to its outcome being visible to queries',
      labelNames: ['type', 'outcome'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    subscriptionsActive: new Gauge({
      name: 'subscriptions_active',
      help: 'Subscriptions running on this gateway (each subscriber of each operation)',
      registers,
    }),
    subscriptionExecutions: new Counter({
      name: 'subscription_executions_total',
      help: 'Subscription events executed and serialized: once per event and operation, however many subscribers share it',
      registers,
    }),
    subscriptionDeliveries: new Counter({
      name: 'subscription_deliveries_total',
      help: 'Subscription results sent to a socket',
      registers,
    }),
    slowConsumers: new Counter({
      name: 'slow_consumer_closes_total',
      help: 'WebSockets closed with 1013 because more than MAX_SOCKET_BUFFER_BYTES waited to be sent to them',
      registers,
    }),
  };
}
