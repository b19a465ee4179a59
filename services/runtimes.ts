/**
 * What runs on the log, for every domain of services/domains.ts: each domain's services/<domain>/index.ts.
 * Loaded by the processes that run services and by set-up, never by the gateway.
 */
import { DOMAINS } from './domains.ts';
import { processesOf, type DomainRuntime, type ServiceParts } from './shared/process.ts';

/** Every domain's runtime (services, projections, seed), loaded by the processes that run them. */
export async function loadDomainRuntimes(): Promise<DomainRuntime[]> {
  return Promise.all(DOMAINS.map(async ({ domain }) => (await import(`./${domain}/index.ts`)).default as DomainRuntime));
}

/** Every process of the system, by name (one per service, with the projections it hosts). */
export async function loadProcesses(): Promise<ServiceParts[]> {
  return (await loadDomainRuntimes()).flatMap(processesOf);
}

export async function findProcess(name: string): Promise<ServiceParts> {
  const processes = await loadProcesses();
  const found = processes.find((p) => p.name === name);
  if (!found) throw new Error(`unknown service "${name}"; known: all, ${processes.map((p) => p.name).join(', ')}`);
  return found;
}
