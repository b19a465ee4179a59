import { describe, expect, it, vi } from 'vitest';
import { createClients, createKafka, replaceable } from './kafka-clients.ts';

/** A client that records what happens to it. */
function fakeClient(name: string) {
  return {
    name,
    connects: 0,
    disconnected: false,
    async connect() { this.connects += 1; },
    async disconnect() { this.disconnected = true; },
  };
}

describe('a replaceable client', () => {
  it('connects once for concurrent first calls', async () => {
    const created: ReturnType<typeof fakeClient>[] = [];
    const client = replaceable(() => created[created.push(fakeClient(`c${created.length}`)) - 1], 1_000);
    await Promise.all([client.call('a', async () => 1), client.call('b', async () => 2)]);
    expect(created.map((c) => c.connects)).toEqual([1]);
  });

  it('is replaced after a call it let go unanswered, and the stale one is disconnected once that call settles', async () => {
    const created: ReturnType<typeof fakeClient>[] = [];
    const client = replaceable(() => created[created.push(fakeClient(`c${created.length}`)) - 1], 20);
    let answer!: () => void;
    const late = new Promise<void>((resolve) => (answer = resolve));
    await expect(client.call('stuck', () => late)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(await client.call('next', async (c) => c.name)).toBe('c1');
    expect(created[0].disconnected).toBe(false); // kafkajs may still be retrying with it
    answer();
    await vi.waitFor(() => expect(created[0].disconnected).toBe(true));
    expect(created[1].disconnected).toBe(false);
  });

  it('is kept after a failure that is the call\'s own', async () => {
    const created: ReturnType<typeof fakeClient>[] = [];
    const client = replaceable(() => created[created.push(fakeClient(`c${created.length}`)) - 1], 1_000);
    await expect(client.call('refused', async () => { throw new Error('topic exists'); })).rejects.toThrow('topic exists');
    expect(await client.call('next', async (c) => c.name)).toBe('c0');
  });
});

describe('the consumers of a bus', () => {
  const clients = () => createClients(createKafka('clients-test', ['127.0.0.1:1']), 1_000);

  it('are disconnected on close unless their owner disconnected them first', async () => {
    const bus = clients();
    const stopped = bus.consumer('stopped', {});
    const running = bus.consumer('running', {});
    await stopped.disconnect();
    const stoppedAgain = vi.spyOn(stopped, 'disconnect');
    const runningStopped = vi.spyOn(running, 'disconnect');
    await bus.close();
    expect(stoppedAgain).not.toHaveBeenCalled();
    expect(runningStopped).toHaveBeenCalledTimes(1);
  });
});
