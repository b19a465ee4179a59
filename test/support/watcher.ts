/** A projection watcher a unit test moves by hand, for the live-feed engines (services/shared/graphql/). */
import type { ProjectionWatcher } from '../../services/shared/graphql/index.ts';
import type { LogPosition } from '../../services/shared/messages.ts';

/** `reached` resolves once `project(offset)` has passed that offset (one topic, one partition: offsets only). */
export function fakeWatcher() {
  let projected = -1;
  const waiting: { offset: number; resolve: () => void }[] = [];
  const watcher: ProjectionWatcher = {
    reached: (_, position: LogPosition) => new Promise<void>((resolve) => {
      if (Number(position.offset) <= projected) resolve();
      else waiting.push({ offset: Number(position.offset), resolve });
    }),
    close: async () => {},
  };
  return {
    watcher,
    project(offset: number) {
      projected = Math.max(projected, offset);
      for (const w of waiting.filter((w) => w.offset <= projected)) w.resolve();
    },
  };
}
