/**
 * Starts a real single-node Apache Kafka broker (KRaft mode) from jars resolved by Maven.
 * Nothing is started when KAFKA_BROKERS is set, or when a broker already answers on the port.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync, createWriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import { isKafkaReachable } from '../../services/shared/bus.ts';
import { keepInForeground, stopProcess } from '../process.ts';

const kafkaDir = resolve(import.meta.dirname);
/** The broker's jars (resolved by resolveKafkaJars): its classpath is `${libDir}/*`. */
export const libDir = join(kafkaDir, 'lib');
const dataRoot = resolve(kafkaDir, '../../.data/kafka');

export interface RunningKafka {
  brokers: string[];
  /** True when this call started the broker (and stop() will end it). */
  started: boolean;
  stop(): Promise<void>;
}

export interface KafkaOptions {
  port?: number;
  log?: (line: string) => void;
}

/** Resolves the broker jars with Maven if they are not there yet. */
export function resolveKafkaJars(log: (line: string) => void = console.log): void {
  if (existsSync(libDir) && readdirSync(libDir).some((f) => f.startsWith('kafka_2.13-'))) return;
  log('resolving Apache Kafka jars from Maven Central (first run only)…');
  const mvn = spawnSync('mvn', ['-q', '-B', '-Dstyle.color=never', '-f', join(kafkaDir, 'pom.xml'), 'dependency:copy-dependencies'], {
    stdio: 'inherit',
  });
  if (mvn.status !== 0) {
    throw new Error('mvn could not resolve the Kafka jars: check that Java 17 and Maven are installed and Maven Central is reachable');
  }
}

export function brokerAnswers(brokers: string[], timeoutMs = 1500): Promise<boolean> {
  const kafka = new Kafka({ clientId: 'kafka-probe', brokers, logLevel: logLevel.NOTHING, connectionTimeout: timeoutMs, retry: { retries: 0 } });
  return isKafkaReachable(kafka);
}

/** Uses KAFKA_BROKERS when set; otherwise starts (or reuses) the local broker. */
export async function ensureKafka(options: KafkaOptions = {}): Promise<RunningKafka> {
  const log = options.log ?? ((line: string) => console.log(`[kafka] ${line}`));
  if (process.env.KAFKA_BROKERS) {
    const brokers = process.env.KAFKA_BROKERS.split(',').map((b) => b.trim());
    return { brokers, started: false, stop: async () => {} };
  }
  const port = options.port ?? Number(process.env.KAFKA_PORT ?? 9092);
  const brokers = [`127.0.0.1:${port}`];
  if (await brokerAnswers(brokers)) {
    log(`using the broker already running on ${brokers[0]}`);
    return { brokers, started: false, stop: async () => {} };
  }
  if (await isPortOpen(port)) {
    // Something holds the port but does not answer yet (a broker still starting, or a busy one): wait for
    // it rather than start a second broker that could not bind.
    log(`port ${port} is taken by a broker that does not answer yet; waiting for it`);
    await waitUntilReachable(brokers, undefined, 60_000);
    return { brokers, started: false, stop: async () => {} };
  }
  resolveKafkaJars(log);
  let child = startBroker(port, log);
  try {
    await waitUntilReachable(brokers, child, 60_000);
  } catch (error) {
    if (child.exitCode === null) throw error;
    // Exited while starting: once more, since a broker stopped just before may still hold its files or ports for a
    // moment (seen once in a test that stops and starts its broker). The first failure's output stays in stdout.log.
    log(`${(error as Error).message}; starting it once more in 2 s`);
    await new Promise((r) => setTimeout(r, 2000));
    child = startBroker(port, log);
    await waitUntilReachable(brokers, child, 60_000);
  }
  log(`broker ready on ${brokers[0]}`);
  return { brokers, started: true, stop: () => stopProcess(child) };
}

function startBroker(port: number, log: (line: string) => void): ChildProcess {
  const dataDir = join(dataRoot, String(port));
  const logDir = join(dataDir, 'log');
  mkdirSync(logDir, { recursive: true });
  const controllerPort = port + 1;
  const config = join(dataDir, 'server.properties');
  writeFileSync(
    config,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${logDir}`,
      // Topics are created explicitly by the system; a typo must fail, not create a topic.
      'auto.create.topics.enable=false',
      'num.partitions=6',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=6',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      // Single node: no reason to wait for more members before the first rebalance.
      'group.initial.rebalance.delay.ms=0',
      'delete.topic.enable=true',
    ].join('\n') + '\n',
  );
  writeFileSync(
    join(dataDir, 'log4j.properties'),
    [
      'log4j.rootLogger=WARN, file',
      'log4j.appender.file=org.apache.log4j.FileAppender',
      `log4j.appender.file.File=${join(dataDir, 'server.log')}`,
      'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.kafka.server.KafkaServer=INFO',
    ].join('\n') + '\n',
  );
  const classpath = `${libDir}/*`;
  if (!existsSync(join(logDir, 'meta.properties'))) {
    const format = spawnSync(
      'java',
      ['-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', randomUUID().replace(/-/g, '').slice(0, 22), '-c', config],
      { encoding: 'utf8' },
    );
    if (format.status !== 0) throw new Error(`formatting Kafka storage failed:\n${format.stderr}${format.stdout}`);
  }
  log(`starting Apache Kafka (KRaft) on 127.0.0.1:${port}, data in ${dataDir}`);
  const child = spawn(
    'java',
    [
      '-Xms256m', '-Xmx768m', '-XX:+UseG1GC',
      `-Dlog4j.configuration=file:${join(dataDir, 'log4j.properties')}`,
      '-cp', classpath, 'kafka.Kafka', config,
    ],
    // Its own process group: a terminal's Ctrl-C reaches the services, which still need the broker to
    // leave their groups cleanly; the broker is stopped last, by stop().
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  const out = createWriteStream(join(dataDir, 'stdout.log'), { flags: 'a' });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  // Its last lines, kept for the error if it exits while starting (the files may be gone by the time one reads them).
  const printed: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      printed.push(...String(chunk).split('\n').filter(Boolean));
      printed.splice(0, printed.length - 10);
    });
  }
  printedBy.set(child, printed);
  return child;
}

async function waitUntilReachable(brokers: string[], child: ChildProcess | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) {
      throw new Error(`Kafka exited with code ${child.exitCode}: ${lastLines(child)}; see .data/kafka/*/server.log and stdout.log`);
    }
    if (await brokerAnswers(brokers)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (child) await stopProcess(child);
  throw new Error(`Kafka did not become reachable on ${brokers[0]} within ${timeoutMs} ms`);
}

/** The last lines each broker started here printed. */
const printedBy = new WeakMap<ChildProcess, string[]>();

/** The end of what the broker printed, for an error that says why it stopped. */
function lastLines(child: ChildProcess): string {
  return (printedBy.get(child) ?? []).join(' | ').slice(-800) || 'it printed nothing';
}

function isPortOpen(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolvePort(true);
    });
    socket.once('error', () => resolvePort(false));
  });
}

/** SIGTERM, then SIGKILL after 15 s; resolves once the process exited. */
// `tsx infra/kafka/broker.ts` runs the broker in the foreground until Ctrl-C.
if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) keepInForeground(await ensureKafka());
