import { describe, expect, it } from 'vitest';
import type { Logger } from '../log.ts';
import type { LogPosition } from '../messages.ts';
import { createCoalescedView } from './coalesced-view.ts';
import { fakeWatcher } from '../../../test/support/watcher.ts';

const at = (offset: number, partition = 0): LogPosition => ({ topic: 't', partition, offset: String(offset) });
const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} } as unknown as Logger;
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

function view(refresh: (keys: ReadonlySet<string>) => Promise<void>, delayMs = 0) {
  const { watcher, project } = fakeWatcher();
  const coalesced = createCoalescedView<string>({ watcher, projectorsOf: () => ['p'], log: quiet, what: 'the test view', delayMs, refresh });
  return { coalesced, project };
}

describe('a coalesced view (the engine of feeds over many entities)', () => {
  it('refreshes only once the newest position noted is projected, with every key changed up to it', async () => {
    const refreshed: string[][] = [];
    const { coalesced, project } = view(async (keys) => void refreshed.push([...keys].sort()));
    coalesced.changed(at(1), 'a');
    await tick();
    // The first refresh runs at once; it waits for offset 1.
    coalesced.changed(at(2), 'b');
    coalesced.changed(at(3), 'c', 'a');
    project(1);
    await tick();
    expect(refreshed).toEqual([['a']]);
    project(2);
    await tick();
    expect(refreshed).toEqual([['a']]); // offset 3 is not projected yet: b and c are not read early
    project(3);
    await tick();
    expect(refreshed).toEqual([['a'], ['a', 'b', 'c']]);
  });

  it('waits for the newest position of each partition, not an older one noted later', async () => {
    const refreshed: string[][] = [];
    const { coalesced, project } = view(async (keys) => void refreshed.push([...keys]), 20);
    coalesced.changed(at(5), 'a');
    coalesced.changed(at(4), 'b'); // an older offset of the same partition noted after
    project(4);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(refreshed).toEqual([]);
    project(5);
    await tick();
    expect(refreshed).toEqual([['a', 'b']]);
  });

  it('gathers a burst into one refresh per delay', async () => {
    let refreshes = 0;
    const { coalesced, project } = view(async () => void (refreshes += 1), 30);
    project(1000);
    for (let offset = 0; offset < 1000; offset += 1) coalesced.changed(at(offset), `k${offset % 10}`);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(refreshes).toBe(1);
  });

  it('tries a failed refresh again with its keys: no change is dropped', async () => {
    const refreshed: string[][] = [];
    let fail = true;
    const { coalesced, project } = view(async (keys) => {
      if (fail) {
        fail = false;
        throw new Error('database away');
      }
      refreshed.push([...keys].sort());
    });
    project(10);
    coalesced.changed(at(1), 'a');
    await tick();
    coalesced.changed(at(2), 'b');
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(refreshed.flat().sort()).toEqual(['a', 'b']);
  });

  it('refreshes a view marked as a whole (a new subscriber) without waiting for anything', async () => {
    let refreshes = 0;
    const { coalesced } = view(async (keys) => {
      expect(keys.size).toBe(0);
      refreshes += 1;
    });
    coalesced.changed(undefined);
    await tick();
    expect(refreshes).toBe(1);
  });

  it('stops refreshing once closed', async () => {
    let refreshes = 0;
    const { coalesced, project } = view(async () => void (refreshes += 1), 10);
    project(5);
    coalesced.changed(at(1), 'a');
    coalesced.close();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(refreshes).toBe(0);
  });
});
