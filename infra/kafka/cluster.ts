/**
 * Starts a real Apache Kafka cluster of several KRaft nodes (each a combined broker and controller) from the same
 * Maven-resolved jars as broker.ts, on loopback ports of its own, with its own data under .data/kafka-cluster/.
 * Replicated like a production cluster: every topic 3 times (or once per node when fewer), `min.insync.replicas`
 * 2, and the same for the consumer offsets and the transaction state log. `npm run chaos -- --brokers 3` runs the
 * system on one and SIGKILLs a node under load.
 *
 *   tsx infra/kafka/cluster.ts [--nodes 3]   runs one in the foreground until Ctrl-C (data kept in .data/kafka-cluster/)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { withinTime } from '../../services/shared/errors.ts';
import { stopProcess } from '../process.ts';
import { brokerAnswers, libDir, resolveKafkaJars } from './broker.ts';

const clusterRoot = resolve(import.meta.dirname, '../../.data/kafka-cluster');

export interface ClusterOptions {
  /** Combined broker+controller nodes. Default: 3. */
  nodes?: number;
  /** 2 × nodes free ports: the brokers' first, then the controllers'. Default: free ports picked now. */
  ports?: number[];
  /** Where the nodes keep their logs. Default: .data/kafka-cluster/<first broker port>. */
  dataDir?: string;
  /** Each JVM's largest heap, in MiB (the machine runs the system beside them). Default: 512. */
  heapMb?: number;
  log?: (line: string) => void;
}

export interface ClusterNode {
  /** Its node.id (1…n), as metadata names leaders and replicas. */
  readonly id: number;
  /** `127.0.0.1:<port>` of its broker listener. */
  readonly address: string;
  pid(): number | undefined;
  running(): boolean;
  /** Sends the signal and resolves once the process has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Starts it again (same ports, same data) and resolves once it answers and the cluster lists it. */
  start(): Promise<void>;
}

export interface RunningCluster {
  /** Every node's broker address: the bootstrap list (KAFKA_BROKERS). */
  brokers: string[];
  nodes: ClusterNode[];
  /** Replication factor and min.insync.replicas of its defaults, the offsets and the transaction log. */
  replicationFactor: number;
  minInsyncReplicas: number;
  dataDir: string;
  /** Stops every node that runs (SIGTERM, SIGKILL after 15 s); `remove` deletes the data too. */
  stop(options?: { remove?: boolean }): Promise<void>;
}

const START_TIMEOUT_MS = 90_000;

export async function startKafkaCluster(options: ClusterOptions = {}): Promise<RunningCluster> {
  const count = options.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1) throw new Error(`a cluster needs at least one node, not ${count}`);
  const log = options.log ?? ((line: string) => console.log(`[kafka-cluster] ${line}`));
  const ports = options.ports ?? (await freePorts(2 * count));
  if (ports.length !== 2 * count) throw new Error(`a cluster of ${count} nodes needs ${2 * count} ports, got ${ports.length}`);
  const replicationFactor = Math.min(3, count);
  const minInsyncReplicas = Math.max(1, Math.min(2, replicationFactor - 1));
  const dataDir = options.dataDir ?? join(clusterRoot, String(ports[0]));
  const heapMb = options.heapMb ?? 512;
  resolveKafkaJars(log);

  const brokerPort = (i: number) => ports[i];
  const controllerPort = (i: number) => ports[count + i];
  const voters = Array.from({ length: count }, (_, i) => `${i + 1}@127.0.0.1:${controllerPort(i)}`).join(',');
  const clusterId = randomUUID().replace(/-/g, '').slice(0, 22);
  const brokers = Array.from({ length: count }, (_, i) => `127.0.0.1:${brokerPort(i)}`);

  const nodes = Array.from({ length: count }, (_, i): ClusterNode & { stopProcess(): Promise<void> } => {
    const id = i + 1;
    const dir = join(dataDir, `node-${id}`);
    const logDir = join(dir, 'log');
    mkdirSync(logDir, { recursive: true });
    const config = join(dir, 'server.properties');
    writeFileSync(config, [
      'process.roles=broker,controller',
      `node.id=${id}`,
      `controller.quorum.voters=${voters}`,
      `listeners=PLAINTEXT://127.0.0.1:${brokerPort(i)},CONTROLLER://127.0.0.1:${controllerPort(i)}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${brokerPort(i)}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${logDir}`,
      // Topics are created explicitly by the system; a typo must fail, not create a topic.
      'auto.create.topics.enable=false',
      'num.partitions=6',
      `default.replication.factor=${replicationFactor}`,
      `min.insync.replicas=${minInsyncReplicas}`,
      `offsets.topic.replication.factor=${replicationFactor}`,
      'offsets.topic.num.partitions=6',
      `transaction.state.log.replication.factor=${replicationFactor}`,
      `transaction.state.log.min.isr=${minInsyncReplicas}`,
      'transaction.state.log.num.partitions=6',
      // A replica that lost data never becomes leader: losing acknowledged messages is what failover must not do.
      'unclean.leader.election.enable=false',
      'group.initial.rebalance.delay.ms=0',
      'delete.topic.enable=true',
    ].join('\n') + '\n');
    writeFileSync(join(dir, 'log4j.properties'), [
      'log4j.rootLogger=WARN, file',
      'log4j.appender.file=org.apache.log4j.FileAppender',
      `log4j.appender.file.File=${join(dir, 'server.log')}`,
      'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.kafka.server.KafkaServer=INFO',
      'log4j.logger.kafka.server.BrokerServer=INFO',
    ].join('\n') + '\n');
    if (!existsSync(join(logDir, 'meta.properties'))) {
      const format = spawnSync('java', ['-cp', `${libDir}/*`, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', config], { encoding: 'utf8' });
      if (format.status !== 0) throw new Error(`formatting the storage of node ${id} failed:\n${format.stderr}${format.stdout}`);
    }

    let child: ChildProcess | undefined;
    const spawnNode = () => {
      const started = spawn('java', [
        `-Xms128m`, `-Xmx${heapMb}m`, '-XX:+UseG1GC',
        `-Dlog4j.configuration=file:${join(dir, 'log4j.properties')}`,
        '-cp', `${libDir}/*`, 'kafka.Kafka', config,
      ], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      const out = createWriteStream(join(dir, 'stdout.log'), { flags: 'a' });
      started.stdout?.pipe(out);
      started.stderr?.pipe(out);
      child = started;
      return started;
    };
    const alive = () => !!child && child.exitCode === null && child.signalCode === null;
    return {
      id,
      address: brokers[i],
      pid: () => (alive() ? child!.pid : undefined),
      running: alive,
      async kill(signal) {
        if (!alive()) return;
        const current = child!;
        const exited = new Promise<void>((done) => current.once('exit', () => done()));
        current.kill(signal);
        await exited;
      },
      async start() {
        if (alive()) return;
        const started = spawnNode();
        await waitFor(async () => {
          if (started.exitCode !== null) throw new Error(`Kafka node ${id} exited with code ${started.exitCode}; see ${join(dir, 'server.log')} and stdout.log`);
          return (await brokerAnswers([brokers[i]])) && (await registeredNodes(brokers)).includes(id);
        }, START_TIMEOUT_MS, `Kafka node ${id} on ${brokers[i]} to join the cluster`);
      },
      stopProcess: () => (child ? stopProcess(child) : Promise.resolve()),
    };
  });

  const stop: RunningCluster['stop'] = async ({ remove = false } = {}) => {
    await Promise.all(nodes.map((n) => n.stopProcess()));
    if (remove) rmSync(dataDir, { recursive: true, force: true });
  };
  log(`starting a ${count}-node Apache Kafka cluster (KRaft, replication ${replicationFactor}, min.insync.replicas ${minInsyncReplicas}) on ${brokers.join(', ')}, data in ${dataDir}`);
  try {
    await Promise.all(nodes.map((n) => n.start()));
  } catch (error) {
    await stop();
    throw error;
  }
  log(`cluster ready: ${brokers.join(',')}`);
  return { brokers, nodes, replicationFactor, minInsyncReplicas, dataDir, stop };
}

/** The node ids the cluster's metadata lists as live brokers ([] when none answers). */
export async function registeredNodes(brokers: string[]): Promise<number[]> {
  const admin = probeKafka(brokers).admin();
  try {
    await withinTime(5_000, 'connecting to the cluster', admin.connect());
    const cluster = await withinTime(5_000, 'describing the cluster', admin.describeCluster());
    return cluster.brokers.map((b) => b.nodeId).sort();
  } catch {
    return [];
  } finally {
    await withinTime(5_000, 'disconnecting', admin.disconnect()).catch(() => {});
  }
}

export interface PartitionState {
  topic: string;
  partition: number;
  leader: number;
  replicas: number[];
  isr: number[];
}

/** Every partition of every topic (internal ones too) with its leader, replicas and in-sync replicas. */
export async function partitionStates(kafka: Kafka): Promise<PartitionState[]> {
  const admin = kafka.admin();
  await withinTime(10_000, 'connecting to the cluster', admin.connect());
  try {
    const names = await withinTime(10_000, 'listing topics', admin.listTopics());
    const { topics } = await withinTime(10_000, 'reading topic metadata', admin.fetchTopicMetadata({ topics: names }));
    return topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr })));
  } finally {
    await withinTime(10_000, 'disconnecting', admin.disconnect()).catch(() => {});
  }
}

/** How many partitions each node leads, most first (ties by node id). */
export function leadersByNode(states: PartitionState[], nodeIds: number[]): { node: number; leads: number }[] {
  return nodeIds
    .map((node) => ({ node, leads: states.filter((s) => s.leader === node).length }))
    .sort((a, b) => b.leads - a.leads || a.node - b.node);
}

function probeKafka(brokers: string[]): Kafka {
  return new Kafka({ clientId: 'kafka-cluster-probe', brokers, logLevel: logLevel.NOTHING, connectionTimeout: 1500, retry: { retries: 0 } });
}

/** `count` distinct ports that were free a moment ago (each released at once, so pick them right before use). */
export async function freePorts(count: number): Promise<number[]> {
  const listen = () =>
    new Promise<{ port: number; close: () => Promise<void> }>((done, fail) => {
      const server = createServer();
      server.once('error', fail);
      server.listen(0, '127.0.0.1', () => done({ port: (server.address() as { port: number }).port, close: () => new Promise((r) => server.close(() => r())) }));
    });
  // Held open together, so the same port cannot be handed out twice.
  const held = [];
  for (let i = 0; i < count; i += 1) held.push(await listen());
  await Promise.all(held.map((h) => h.close()));
  return held.map((h) => h.port);
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// `tsx infra/kafka/cluster.ts [--nodes N]` runs a cluster in the foreground until Ctrl-C.
if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const at = process.argv.indexOf('--nodes');
  const cluster = await startKafkaCluster({ nodes: at > 0 ? Number(process.argv[at + 1]) : 3 });
  console.log(`KAFKA_BROKERS=${cluster.brokers.join(',')}`);
  const shutdown = () => void cluster.stop().then(() => process.exit(0));
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}
