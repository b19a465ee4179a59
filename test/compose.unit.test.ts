/**
 * No Docker engine runs where this suite runs, so docker-compose.yml is checked for structure: one container runs
 * every service of services/domains.ts, every container's command is a script in package.json, the start order is
 * gated by health checks, every long-running container comes back after a crash, and Kafka's log lives in
 * its volume.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = resolve(import.meta.dirname, '..');
const compose = parse(readFileSync(resolve(root, 'docker-compose.yml'), 'utf8'), { merge: true });
const scripts: Record<string, string> = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')).scripts;
const containers: Record<string, any> = compose.services;

describe('docker-compose.yml', () => {
  it('runs every service of the code, the gateway and the infrastructure in containers', () => {
    for (const name of ['services', 'gateway', 'kafka', 'postgres', 'setup']) {
      expect(containers, `container ${name}`).toHaveProperty(name);
    }
  });

  it('starts each container with a command that exists in package.json', () => {
    for (const [name, container] of Object.entries(containers)) {
      // Infrastructure images run their own entrypoint (legacy-postgres only passes it server flags).
      if (!container.command || !container.build) continue;
      const [npm, run, script] = container.command;
      expect([npm, run], `${name} runs an npm script`).toEqual(['npm', 'run']);
      expect(scripts, `${name}: script "${script}"`).toHaveProperty(script);
    }
    // `all`: services/main.ts runs every service the domains declare, so a new domain needs no container.
    expect(containers.services.command).toEqual(['npm', 'run', 'service', '--', 'all']);
    expect(scripts.service).toBe('tsx services/main.ts');
  });

  it('runs the schema registry (Apicurio) on its own PostgreSQL database, health-checked, and points the system at it', () => {
    expect(containers['schema-registry'].image).toMatch(/^apicurio\/apicurio-registry:3\.3\./);
    expect(containers['schema-registry'].environment).toMatchObject({ APICURIO_STORAGE_KIND: 'sql', APICURIO_DATASOURCE_URL: 'jdbc:postgresql://postgres:5432/schema_registry' });
    expect(containers['schema-registry'].healthcheck?.test).toBeDefined();
    expect(containers.postgres.volumes).toContain('./infra/registry/compose-init.sql:/docker-entrypoint-initdb.d/schema-registry.sql:ro');
    for (const name of ['setup', 'services', 'gateway']) {
      expect(containers[name].environment.SCHEMA_REGISTRY_URL, name).toBe('http://schema-registry:8080/apis/ccompat/v7');
    }
  });

  it('runs Kafka in KRaft mode without topic auto-creation, and PostgreSQL, with health checks', () => {
    expect(containers.kafka.image).toMatch(/^apache\/kafka:3\.9\./);
    expect(containers.kafka.environment.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(containers.kafka.environment.KAFKA_AUTO_CREATE_TOPICS_ENABLE).toBe('false');
    for (const name of ['kafka', 'postgres', 'gateway']) expect(containers[name].healthcheck?.test, name).toBeDefined();
  });

  it('runs the legacy catalog with logical decoding, and Kafka Connect with Debezium, health-checked', () => {
    expect(containers['legacy-postgres'].command.join(' ')).toContain('wal_level=logical');
    expect(containers.connect.image).toMatch(/^quay\.io\/debezium\/connect:3\.6\./);
    for (const name of ['legacy-postgres', 'connect']) expect(containers[name].healthcheck?.test, name).toBeDefined();
    // The connector's value converter registers the movies schema as it starts.
    expect(containers['catalog-capture'].depends_on).toEqual({
      'legacy-postgres': { condition: 'service_healthy' },
      connect: { condition: 'service_healthy' },
      'schema-registry': { condition: 'service_healthy' },
    });
    expect(containers.gateway.environment).toMatchObject({ LEGACY_DATABASE_URL: expect.any(String), CONNECT_URL: 'http://connect:8083' });
  });

  it('orders the start: infrastructure healthy, then setup done, then services', () => {
    expect(containers.setup.depends_on).toEqual({
      kafka: { condition: 'service_healthy' },
      postgres: { condition: 'service_healthy' },
      'schema-registry': { condition: 'service_healthy' },
    });
    for (const name of ['services', 'gateway']) {
      expect(containers[name].depends_on, name).toEqual({ setup: { condition: 'service_completed_successfully' } });
      expect(containers[name].environment.KAFKA_BROKERS).toBe('kafka:9092');
    }
    expect(containers.gateway.ports).toContain('4000:4000');
  });

  it('requires JWT_SECRET (so the published gateway never runs on the development secret) and listens beyond loopback only inside its container', () => {
    for (const name of ['services', 'gateway']) {
      // `${VAR:?message}`: compose refuses to start without it.
      expect(containers[name].environment.JWT_SECRET, name).toMatch(/^\$\{JWT_SECRET:\?[^}]+\}$/);
    }
    expect(containers.gateway.environment.HOST).toBe('0.0.0.0');
    expect(containers.services.environment.HOST).toBeUndefined();
  });

  it('restarts every long-running container after a crash; only the one-shot jobs are never restarted', () => {
    const oneShot = new Set(['setup', 'catalog-capture']);
    for (const [name, container] of Object.entries(containers)) {
      const expected = oneShot.has(name) ? 'no' : /^(unless-stopped|on-failure(:\d+)?|always)$/;
      if (typeof expected === 'string') expect(container.restart, name).toBe(expected);
      else expect(container.restart, `${name} has a restart policy`).toMatch(expected);
    }
  });

  it("keeps Kafka's log inside its volume, so `docker compose down && up` keeps the events", () => {
    const logDirs: string = containers.kafka.environment.KAFKA_LOG_DIRS;
    expect(logDirs, 'KAFKA_LOG_DIRS (else the image writes to /tmp/kraft-combined-logs)').toBeDefined();
    const mounts = (containers.kafka.volumes as string[]).map((v) => v.split(':')[1]);
    for (const dir of logDirs.split(',')) {
      expect(mounts.some((mount) => dir === mount || dir.startsWith(`${mount}/`)), `${dir} is inside one of ${mounts.join(', ')}`).toBe(true);
    }
    const named = (containers.kafka.volumes as string[]).map((v) => v.split(':')[0]);
    for (const volume of named) expect(compose.volumes, `named volume ${volume}`).toHaveProperty(volume);
  });
});
