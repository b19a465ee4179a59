import { expect, it } from 'vitest';
import { heartbeatPayloads, type Heartbeat } from './liveness.ts';

const beat = (consumers: number): Heartbeat => ({
  instance: 'h:1:abc', process: 'services', pid: 1, host: 'h',
  consumers: Array.from({ length: consumers }, (_, i) => ({ group: `prefix.group-${i}`, topics: [`prefix.topic-${i}`], assigned: { [`prefix.topic-${i}`]: [0, 1, 2, 3, 4, 5] } })),
});

it('sends a heartbeat as one notification when it fits', () => {
  const payloads = heartbeatPayloads(beat(3));
  expect(payloads).toHaveLength(1);
  expect(JSON.parse(payloads[0])).toEqual(beat(3));
});

it('shares the consumers out between notifications under the limit, each naming the instance', () => {
  const payloads = heartbeatPayloads(beat(40), 1_000);
  expect(payloads.length).toBeGreaterThan(1);
  for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(1_000);
  const parsed = payloads.map((payload) => JSON.parse(payload) as Heartbeat);
  expect(parsed.every((p) => p.instance === 'h:1:abc' && p.pid === 1)).toBe(true);
  expect(parsed.flatMap((p) => p.consumers)).toEqual(beat(40).consumers);
});

it('refuses a consumer that cannot fit in one notification', () => {
  expect(() => heartbeatPayloads(beat(1), 100)).toThrow(/does not fit in one notification/);
});
