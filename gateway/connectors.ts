/**
 * The Kafka Connect connectors the contracts declare (e.g. Debezium's capture of the legacy catalog), from the
 * worker's REST API, for `/readyz` and `/metrics`; checked only with CONNECT_URL. A connector missing or not fully
 * RUNNING makes the gateway not ready: a FAILED task does not recover by itself.
 */
import type { GatewayMetrics } from './metrics.ts';
import type { AnyContract } from '../services/shared/messages.ts';

export interface TaskStatus {
  id: number;
  state: string;
  workerId?: string;
  /** The Java stack trace of a FAILED task or connector. */
  trace?: string;
}

/** One connector as its worker reports it; `state` is UNREACHABLE or NOT_REGISTERED when the worker cannot say. */
export interface ConnectorStatus {
  name: string;
  state: string;
  workerId?: string;
  trace?: string;
  tasks: TaskStatus[];
}

export interface ConnectorWatch {
  /** A readiness check (gateway/health.ts): every connector's problem, one sentence each, or undefined. */
  check(): Promise<string | undefined>;
  /** The connectors as last checked, for /readyz (traces left out: the reasons quote them). */
  latest(): { name: string; state: string; tasks: { id: number; state: string }[] }[];
}

/** The connectors the contracts declare for their topics, named under the topic prefix as they are registered. */
export function declaredConnectors(contracts: readonly AnyContract[], prefix: string): string[] {
  return contracts.flatMap((contract) => Object.values(contract.topics).flatMap((topic) => (topic.connector ? [prefix + topic.connector] : [])));
}

/** Kafka Connect's REST API for readiness: CONNECT_URL, or none (then no connector is checked). */
export function connectUrlFromEnv(): string | undefined {
  return process.env.CONNECT_URL?.replace(/\/$/, '') || undefined;
}

export function watchConnectors(options: { url: string; connectors: string[]; metrics: GatewayMetrics; timeoutMs?: number }): ConnectorWatch {
  const { url, connectors, metrics } = options;
  let latest: ConnectorStatus[] = connectors.map((name) => ({ name, state: 'UNKNOWN', tasks: [] }));

  async function status(name: string): Promise<ConnectorStatus> {
    // Bounded: a worker that does not answer must not hold up the whole health sample.
    const response = await fetch(`${url}/connectors/${encodeURIComponent(name)}/status`, { signal: AbortSignal.timeout(options.timeoutMs ?? 2_000) });
    if (response.status === 404) return { name, state: 'NOT_REGISTERED', tasks: [] };
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
    const body = (await response.json()) as { connector: { state: string; worker_id?: string; trace?: string }; tasks: { id: number; state: string; worker_id?: string; trace?: string }[] };
    return {
      name,
      state: body.connector.state,
      workerId: body.connector.worker_id,
      trace: body.connector.trace,
      tasks: body.tasks.map((t) => ({ id: t.id, state: t.state, workerId: t.worker_id, trace: t.trace })),
    };
  }

  return {
    async check() {
      const reasons: string[] = [];
      latest = await Promise.all(connectors.map(async (name) => {
        try {
          return await status(name);
        } catch (error) {
          reasons.push(`cannot reach Kafka Connect at ${url} for connector ${name} (${(error as Error).message}): its changes are not captured; check that the worker runs (npm run connect) and CONNECT_URL`);
          return { name, state: 'UNREACHABLE', tasks: [] };
        }
      }));
      metrics.connectorState.reset();
      metrics.connectorTaskState.reset();
      for (const connector of latest) {
        metrics.connectorState.set({ connector: connector.name, state: connector.state }, 1);
        for (const task of connector.tasks) metrics.connectorTaskState.set({ connector: connector.name, task: String(task.id), state: task.state }, 1);
        if (connector.state !== 'UNREACHABLE') reasons.push(...problems(connector, url));
      }
      return reasons.length ? reasons.join('; ') : undefined;
    },
    latest: () => latest.map(({ name, state, tasks }) => ({ name, state, tasks: tasks.map(({ id, state }) => ({ id, state })) })),
  };
}

/** Why this connector does not capture, one sentence each: empty when it and every task are RUNNING. */
export function problems(connector: ConnectorStatus, url: string): string[] {
  const { name } = connector;
  const restart = `fix the cause, then restart it: curl -X POST '${url}/connectors/${name}/restart?includeTasks=true&onlyFailed=true'`;
  if (connector.state === 'NOT_REGISTERED') {
    return [`connector ${name} is not registered on Kafka Connect at ${url}: its topic gets no changes; register it (npm start and npm run catalog-capture do)`];
  }
  if (connector.state === 'FAILED') return [`connector ${name} FAILED${on(connector.workerId)}: ${summary(connector.trace)}; ${restart}`];
  if (connector.state !== 'RUNNING') return [`connector ${name} is ${connector.state}, not RUNNING: ${advice(connector.state, url, name)}`];
  if (!connector.tasks.length) return [`connector ${name} is RUNNING with no task: its changes are not captured; see the worker's log`];
  return connector.tasks.filter((task) => task.state !== 'RUNNING').map((task) =>
    task.state === 'FAILED'
      ? `connector ${name} task ${task.id} FAILED${on(task.workerId)}: ${summary(task.trace)}; ${restart}`
      : `connector ${name} task ${task.id} is ${task.state}, not RUNNING: ${advice(task.state, url, name)}`,
  );
}

function advice(state: string, url: string, name: string): string {
  if (state === 'PAUSED' || state === 'STOPPED') return `its changes wait in the database; resume it: curl -X PUT ${url}/connectors/${name}/resume`;
  return 'starting or rebalancing; if it stays so, see the worker\'s log';
}

const on = (worker: string | undefined) => (worker ? ` on ${worker}` : '');

/** A Java stack trace in one line: its first line and its root cause (the last "Caused by:"). */
export function summary(trace: string | undefined): string {
  if (!trace) return 'no trace given (see the worker\'s log)';
  const lines = trace.split('\n').map((line) => line.trim());
  const cause = lines.filter((line) => line.startsWith('Caused by:')).at(-1);
  const text = cause ? `${lines[0]} (${cause})` : lines[0];
  return text.length > 600 ? `${text.slice(0, 599)}…` : text;
}
