/**
 * The domain manifest: services/domains.ts lists each domain once, its contract names its services and
 * projections, and its index.ts gives their code. processesOf derives the processes from the two and refuses,
 * naming the fix, a runtime that disagrees with its contract.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { DOMAINS, ROLES, SERVICE_NAMES, type DomainRole } from '../services/domains.ts';
import type { Role } from '../services/shared/graphql/index.ts';
import { loadDomainRuntimes, loadProcesses } from '../services/runtimes.ts';
import { processesOf, type DomainRuntime } from '../services/shared/process.ts';
import { tallyContract } from './fixtures/tally/contract.ts';
import tally from './fixtures/tally/index.ts';
import { tallyService } from './fixtures/tally/tally.ts';

describe('processesOf', () => {
  it('runs each service the contract declares as a process, hosting the projections the contract places there', () => {
    expect(processesOf(tally)).toEqual([{
      name: 'tally',
      service: tallyService,
      // The runtime's own event index keeps the domain's events too, hosted with its first service.
      projections: [...tally.projections!, expect.objectContaining({ name: 'tally-event-index', contract: tallyContract, tables: ['event_index'] })],
      tickers: [],
    }]);
  });

  it('refuses a runtime without the code of a declared service or projection', () => {
    expect(() => processesOf({ ...tally, services: [] })).toThrow('the tally contract declares service tally but the tally domain\'s index.ts runs no code for it');
    expect(() => processesOf({ ...tally, projections: [] })).toThrow('declares projection tally-projector');
  });

  it('refuses code the contract does not declare, code declared twice, and code of another contract', () => {
    expect(() => processesOf({ ...tally, services: [tallyService, { ...tallyService, name: 'counter' }] })).toThrow('runs service "counter", which the tally contract does not declare; add it to the contract\'s services');
    expect(() => processesOf({ ...tally, services: [tallyService, tallyService] })).toThrow('runs service "tally" twice');
    expect(() => processesOf({ ...tally, contract: { ...tallyContract } } as DomainRuntime)).toThrow('defined on another domain\'s contract');
  });

  it('refuses a ticker for a service the domain does not have', () => {
    expect(() => processesOf({ ...tally, tickers: { clock: [] } })).toThrow('no service "clock" to host a projection or ticker');
  });
});

describe('the product domains', () => {
  it('each run the code of exactly what their contract declares', async () => {
    const processes = await loadProcesses(); // throws on any disagreement
    expect(processes.map((p) => p.name)).toEqual(SERVICE_NAMES);
    expect((await loadDomainRuntimes()).map((runtime) => runtime.contract)).toEqual(DOMAINS);
  });

  it('grant the roles their contracts declare, and admin', () => {
    expect(ROLES).toEqual(['customer', 'rider', 'driver', 'admin']);
    // The slice kit's Role learns the domains' roles from services/domains.ts (checked by tsc).
    expectTypeOf<Role>().toEqualTypeOf<DomainRole | 'admin'>();
  });
});
