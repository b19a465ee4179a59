/**
 * How a service's instances share its partitions: by partition *number* (p of every topic), since the state of p
 * must be where all partition-p inputs are decided; kafkajs's round robin spreads each (topic, partition) on its own.
 * Sticky, so a joining or leaving instance moves as little state as it can.
 */
import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

export const ASSIGNER_NAME = 'PartitionNumberAssigner';

/**
 * Partition numbers per member. `single`: every number to one member (the state is one aggregate; the others are
 * standbys), preferably one already holding some. Otherwise each member keeps what it holds up to ⌈n/members⌉,
 * and the rest go to the members holding fewest. Members are taken in id order, so every leader decides alike.
 * A member holding more than its share keeps a spread of its numbers, not the lowest: state with fewer keys than
 * partitions fills them from 0 up (the dispatcher's regions: region i on partition i), so a member keeping 0, 1, 2
 * of 0–5 would keep every region and its new peer none.
 */
export function assignPartitions(
  members: readonly { memberId: string; holding: readonly number[] }[],
  partitions: readonly number[],
  single: boolean,
): Map<string, number[]> {
  const sorted = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
  const result = new Map<string, number[]>(sorted.map((m) => [m.memberId, []]));
  if (!sorted.length) return result;
  const all = [...new Set(partitions)].sort((a, b) => a - b);
  if (single) {
    const owner = sorted.find((m) => m.holding.length) ?? sorted[0];
    result.set(owner.memberId, all);
    return result;
  }
  const share = Math.ceil(all.length / sorted.length);
  const free = new Set(all);
  for (const member of sorted) {
    const holding = [...new Set(member.holding)].filter((p) => free.has(p)).sort((a, b) => a - b);
    const mine = result.get(member.memberId)!;
    for (const partition of spread(holding, share)) if (free.delete(partition)) mine.push(partition);
  }
  for (const partition of free) {
    const fewest = sorted.reduce((a, b) => (result.get(b.memberId)!.length < result.get(a.memberId)!.length ? b : a));
    result.get(fewest.memberId)!.push(partition);
  }
  for (const list of result.values()) list.sort((a, b) => a - b);
  return result;
}

/** At most `count` of the sorted `numbers`, evenly spaced among them (all of them when they are no more). */
function spread(numbers: readonly number[], count: number): number[] {
  if (numbers.length <= count) return [...numbers];
  return Array.from({ length: count }, (_, k) => numbers[Math.floor((k * numbers.length) / count)]);
}

/** The kafkajs assigner; `holding()` says which partition numbers this member holds state for (sent when it joins). */
export function partitionNumberAssigner(single: boolean, holding: () => number[]): PartitionAssigner {
  return ({ cluster }) => ({
    name: ASSIGNER_NAME,
    version: 0,
    async assign({ members, topics }) {
      const partitionsOf = new Map(topics.map((topic) => [topic, cluster.findTopicPartitionMetadata(topic).map((m) => m.partitionId)]));
      const numbers = [...partitionsOf.values()].flat();
      const held = members.map(({ memberId, memberMetadata }) => {
        let holdingNow: number[] = [];
        try {
          holdingNow = JSON.parse(AssignerProtocol.MemberMetadata.decode(memberMetadata)?.userData.toString() || '[]');
        } catch {
          // a member without readable metadata holds nothing
        }
        return { memberId, holding: holdingNow };
      });
      const assigned = assignPartitions(held, numbers, single);
      return [...assigned].map(([memberId, mine]) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 0,
          assignment: Object.fromEntries(topics.map((topic) => [topic, partitionsOf.get(topic)!.filter((p) => mine.includes(p))])),
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return {
        name: ASSIGNER_NAME,
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.from(JSON.stringify(holding())) }),
      };
    },
  });
}
