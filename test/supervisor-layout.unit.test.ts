import { expect, it } from 'vitest';
import { parseServiceInstances, systemProcesses } from '../scripts/supervisor.ts';

const names = ['orders', 'inventory', 'dispatch'];

it('runs a service named in SERVICE_INSTANCES apart, as that many processes, beside either layout', () => {
  const instances = parseServiceInstances('dispatch=2', names);
  expect(systemProcesses(names, 'one', instances).map((p) => [p.name, ...(p.args ?? [])])).toEqual([
    ['services', 'orders', 'inventory'], ['dispatch', 'dispatch'], ['dispatch-2', 'dispatch'], ['gateway'],
  ]);
  expect(systemProcesses(names, 'each', instances).map((p) => p.name)).toEqual(['orders', 'inventory', 'dispatch', 'dispatch-2', 'gateway']);
  expect(systemProcesses(names, 'one', parseServiceInstances(undefined, names)).map((p) => p.name)).toEqual(['services', 'gateway']);
});

it('refuses SERVICE_INSTANCES entries it cannot read, saying the format', () => {
  expect(() => parseServiceInstances('dispatch', names)).toThrow(/service=N/);
  expect(() => parseServiceInstances('billing=2', names)).toThrow(/no service "billing"/);
  expect(() => parseServiceInstances('dispatch=0', names)).toThrow(/1 to 16/);
});
