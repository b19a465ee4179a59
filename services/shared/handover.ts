/**
 * A service is decided by one consumer group at a time, though its group's name depends on the process layout
 * (`fraud+inventory+…`, or `inventory`). Before a reader joins:
 * - it refuses to start while another group with live members decides one of its services (no transaction fences
 *   the other);
 * - its first instance takes over, per partition, the earliest position any of its services reached in any group;
 *   what was decided beyond that is read again and found handled, never decided twice.
 */
import { withKafkaRetries, type Bus } from './bus.ts';
import type { Logger } from './log.ts';

export interface ReaderServices {
  /** The reader's group, without the prefix. */
  group: string;
  /** Each service with the physical topics it reads. */
  services: readonly { name: string; topics: readonly string[] }[];
}

export function takeOverPositions(bus: Bus, reader: ReaderServices, log: Logger): Promise<void> {
  // Reads, then positions set once: worth doing again whole when the broker was not ready (a coordinator loading).
  return withKafkaRetries(() => takeOver(bus, reader, log));
}

async function takeOver(bus: Bus, { group, services }: ReaderServices, log: Logger): Promise<void> {
  const mine = new Set(services.map(({ name }) => name));
  const admin = bus.kafka.admin();
  await admin.connect();
  try {
    const others = (await admin.listGroups()).groups
      .map(({ groupId }) => groupId)
      .filter((id) => id.startsWith(bus.prefix) && id !== bus.prefix + group)
      .map((id) => ({ id, serves: id.slice(bus.prefix.length).split('+') }))
      .filter(({ serves }) => serves.some((name) => mine.has(name)));
    if (!others.length) return;
    const described = (await admin.describeGroups([bus.prefix + group, ...others.map(({ id }) => id)])).groups;
    const live = described.filter(({ groupId, members }) => groupId !== bus.prefix + group && members.length);
    if (live.length) {
      const names = live.map(({ groupId }) => groupId.slice(bus.prefix.length));
      throw new Error(
        `${names.map((name) => `consumer group ${name}`).join(' and ')} decides ${[...mine].filter((s) => names.some((n) => n.split('+').includes(s))).join(', ')} now: ` +
          `a service is decided by one group at a time. Stop the process running it, or run this one with the same services (${names[0].split('+').join(' ')})`,
      );
    }
    // Other instances of this group run already: their positions stand.
    if (described.find(({ groupId }) => groupId === bus.prefix + group)?.members.length) return;

    /** Per service, per `topic:partition`: the furthest position any group reached for it. */
    const reached = new Map<string, Map<string, bigint>>(services.map(({ name }) => [name, new Map()]));
    let current = new Map<string, bigint>();
    for (const { id, serves } of [{ id: bus.prefix + group, serves: [...mine] }, ...others]) {
      const served = services.filter(({ name }) => serves.includes(name));
      const fetched = await admin.fetchOffsets({ groupId: id, topics: [...new Set(served.flatMap(({ topics }) => topics))] });
      const positions = new Map(fetched.flatMap(({ topic, partitions }) =>
        partitions.filter(({ offset }) => offset !== '-1').map(({ partition, offset }) => [`${topic}:${partition}`, BigInt(offset)] as const)));
      if (id === bus.prefix + group) current = positions;
      for (const { name, topics } of served) {
        for (const [at, offset] of positions) {
          if (!topics.includes(at.slice(0, at.lastIndexOf(':')))) continue;
          const of = reached.get(name)!;
          if ((of.get(at) ?? -1n) < offset) of.set(at, offset);
        }
      }
    }
    const moved: string[] = [];
    for (const topic of new Set(services.flatMap(({ topics }) => topics))) {
      const readers = services.filter(({ topics }) => topics.includes(topic));
      const partitions: { partition: number; offset: string }[] = [];
      for (const { partition, low } of await bus.topicOffsets(topic)) {
        const at = `${topic}:${partition}`;
        // A service no group has read this partition for starts at its beginning.
        const earliest = readers.map(({ name }) => reached.get(name)!.get(at) ?? BigInt(low)).reduce((a, b) => (b < a ? b : a));
        if (earliest !== (current.get(at) ?? BigInt(low))) partitions.push({ partition, offset: earliest.toString() });
      }
      if (!partitions.length) continue;
      await admin.setOffsets({ groupId: bus.prefix + group, topic, partitions });
      moved.push(`${bus.logicalTopic(topic)} ${partitions.map(({ partition, offset }) => `${partition}@${offset}`).join(' ')}`);
    }
    if (moved.length) log.info(`took over the positions of ${others.map(({ id }) => id.slice(bus.prefix.length)).join(', ')}: ${moved.join('; ')}`);
  } finally {
    await admin.disconnect();
  }
}
