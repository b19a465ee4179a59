/**
 * The runtime's one event index: every domain's events in one table (`event_index`), by entity and time, kept by a
 * projector per domain (the contract declares it: `<domain>-event-index`) and rebuilt with the other projections.
 * It knows no domain: an entity is the key its events carry on the log (their aggregate id) on the topics its
 * domain names. Histories, `asOf` and resumed subscriptions read it.
 *
 * An event's position orders it within its entity: when it occurred, then where it was first read (topic,
 * partition, offset), so several events of one decision keep their log order. The same position again after a
 * rebuild: a client's cursor outlives it.
 */
import { SystemError } from './errors.ts';
import type { SqlClient } from './db.ts';
import { EVENT_INDEX_TABLE, eventIndexProjector, type Actor, type AnyContract, type EventEnvelope } from './messages.ts';
import type { ProjectionDefinition } from './projector.ts';

/** Keeps `contract`'s events in the index: one statement per batch; a copy of an event already there changes nothing. */
export function eventIndexProjection(contract: AnyContract): ProjectionDefinition {
  return {
    ...contract.projection(eventIndexProjector(contract.domain)),
    contract,
    async apply(tx, events, positions) {
      const column = <T>(of: (event: EventEnvelope, i: number) => T) => events.map((event, i) => of(event, i));
      tx.queue`
        INSERT INTO event_index (event_id, aggregate_id, occurred_at, topic, partition, "offset", type, correlation_id, actor, data)
        SELECT * FROM unnest(
          ${column((e) => e.eventId)}::text[], ${column((e) => e.aggregateId)}::text[], ${column((e) => e.occurredAt)}::timestamptz[],
          ${column((_, i) => positions[i].topic)}::text[], ${column((_, i) => positions[i].partition)}::int[],
          ${column((_, i) => positions[i].offset)}::bigint[], ${column((e) => e.type)}::text[], ${column((e) => e.correlationId)}::text[],
          ${column((e) => (e.actor ? JSON.stringify(e.actor) : null))}::jsonb[], ${column((e) => JSON.stringify(e.data))}::jsonb[])
        ON CONFLICT (event_id) DO NOTHING`;
    },
  };
}

/** An event as the index holds it, with its position (opaque to clients: `cursorOf`). */
export interface IndexedEvent {
  eventId: string;
  /** Its cursor (`cursorOf`), made once when read: a page hands it out twice per event. */
  position: string;
  aggregateId: string;
  occurredAt: Date;
  topic: string;
  partition: number;
  offset: string;
  type: string;
  /** The command that started the chain this event belongs to. */
  commandId: string;
  actor: Actor | null;
  data: unknown;
}

/** Where in an entity's history a client stands: after the event of this position. */
export interface EventPosition {
  aggregateId: string;
  occurredAt: Date;
  topic: string;
  partition: number;
  offset: string;
}

/** The order of two positions in one entity's history: by time, then topic, partition and offset. */
export function comparePositions(a: EventPosition, b: EventPosition): number {
  const byTime = a.occurredAt.getTime() - b.occurredAt.getTime();
  if (byTime) return byTime;
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  if (a.partition !== b.partition) return a.partition - b.partition;
  const [x, y] = [BigInt(a.offset), BigInt(b.offset)];
  return x === y ? 0 : x < y ? -1 : 1;
}

/** The position of an event as a cursor: base64url of its entity and sort key. */
export function cursorOf(event: EventPosition): string {
  return Buffer.from(JSON.stringify([event.aggregateId, event.occurredAt.toISOString(), event.topic, event.partition, event.offset])).toString('base64url');
}

/** A cursor read back; BAD_USER_INPUT when it is malformed or names another entity's history. */
export function positionOf(cursor: string, aggregateId: string): EventPosition {
  const refused = (why: string) => new SystemError('BAD_USER_INPUT', `invalid cursor: ${why}; pass a cursor this API returned for this same entity`);
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw refused('it is not one this API wrote');
  }
  if (!Array.isArray(parts) || parts.length !== 5) throw refused('it is not one this API wrote');
  const [entity, at, topic, partition, offset] = parts as unknown[];
  const occurredAt = new Date(typeof at === 'string' ? at : Number.NaN);
  if (typeof entity !== 'string' || typeof topic !== 'string' || !Number.isInteger(partition) || typeof offset !== 'string' || !/^\d{1,19}$/.test(offset) || Number.isNaN(occurredAt.getTime())) {
    throw refused('it is not one this API wrote');
  }
  if (entity !== aggregateId) throw refused('it belongs to another entity');
  return { aggregateId: entity, occurredAt, topic, partition: partition as number, offset };
}

/** What an entity's history is read from: its key and the logical topics of its events. */
export interface EntityStream {
  aggregateId: string;
  topics: readonly string[];
}

export interface EventIndexReader {
  /** The entity's events oldest first, after `after` (exclusive), at most `limit`. One statement. */
  history(stream: EntityStream, options: { after?: EventPosition; limit: number }): Promise<IndexedEvent[]>;
  /** The entity's events that occurred at or before `asOf`, oldest first. One statement. */
  asOf(stream: EntityStream, asOf: Date): Promise<IndexedEvent[]>;
  /** The whole histories of these entities (of one domain: the same topics), oldest first. One statement. */
  histories(aggregateIds: readonly string[], topics: readonly string[]): Promise<Map<string, IndexedEvent[]>>;
  /** The latest event of each of these entities (of one domain: the same topics) that has any. One statement. */
  latest(aggregateIds: readonly string[], topics: readonly string[]): Promise<Map<string, IndexedEvent>>;
}

interface Row {
  event_id: string;
  aggregate_id: string;
  occurred_at: Date;
  topic: string;
  partition: number;
  offset: string;
  type: string;
  correlation_id: string;
  actor: Actor | null;
  data: unknown;
}

const COLUMNS = `event_id, aggregate_id, occurred_at, topic, partition, "offset", type, correlation_id, actor, data`;
const ORDER = `ORDER BY occurred_at, topic, partition, "offset"`;

const eventOf = (row: Row): IndexedEvent => ({
  eventId: row.event_id,
  position: cursorOf({ aggregateId: row.aggregate_id, occurredAt: row.occurred_at, topic: row.topic, partition: row.partition, offset: row.offset }),
  aggregateId: row.aggregate_id,
  occurredAt: row.occurred_at,
  topic: row.topic,
  partition: row.partition,
  offset: row.offset,
  type: row.type,
  commandId: row.correlation_id,
  actor: row.actor,
  data: row.data,
});

export function createEventIndexReader(sql: SqlClient): EventIndexReader {
  return {
    async history({ aggregateId, topics }, { after, limit }) {
      const rows = after
        ? await sql.query<Row>(
          `SELECT ${COLUMNS} FROM ${EVENT_INDEX_TABLE} WHERE aggregate_id = $1 AND topic = ANY($2::text[])
             AND (occurred_at, topic, partition, "offset") > ($3::timestamptz, $4::text, $5::int, $6::bigint) ${ORDER} LIMIT $7`,
          [aggregateId, topics, after.occurredAt.toISOString(), after.topic, after.partition, after.offset, limit],
        )
        : await sql.query<Row>(
          `SELECT ${COLUMNS} FROM ${EVENT_INDEX_TABLE} WHERE aggregate_id = $1 AND topic = ANY($2::text[]) ${ORDER} LIMIT $3`,
          [aggregateId, topics, limit],
        );
      return rows.map(eventOf);
    },
    async asOf({ aggregateId, topics }, asOf) {
      const rows = await sql.query<Row>(
        `SELECT ${COLUMNS} FROM ${EVENT_INDEX_TABLE} WHERE aggregate_id = $1 AND topic = ANY($2::text[]) AND occurred_at <= $3 ${ORDER}`,
        [aggregateId, topics, asOf.toISOString()],
      );
      return rows.map(eventOf);
    },
    async histories(aggregateIds, topics) {
      const rows = await sql.query<Row>(
        `SELECT ${COLUMNS} FROM ${EVENT_INDEX_TABLE} WHERE aggregate_id = ANY($1::text[]) AND topic = ANY($2::text[])
         ORDER BY aggregate_id, occurred_at, topic, partition, "offset"`,
        [aggregateIds, topics],
      );
      const byEntity = new Map<string, IndexedEvent[]>(aggregateIds.map((id) => [id, []]));
      for (const row of rows) byEntity.get(row.aggregate_id)?.push(eventOf(row));
      return byEntity;
    },
    async latest(aggregateIds, topics) {
      const rows = await sql.query<Row>(
        `SELECT DISTINCT ON (aggregate_id) ${COLUMNS} FROM ${EVENT_INDEX_TABLE} WHERE aggregate_id = ANY($1::text[]) AND topic = ANY($2::text[])
         ORDER BY aggregate_id, occurred_at DESC, topic DESC, partition DESC, "offset" DESC`,
        [aggregateIds, topics],
      );
      return new Map(rows.map((row) => [row.aggregate_id, eventOf(row)]));
    },
  };
}

/**
 * Of an entity's states folded from `history` (each carrying its event's cursor), those of the events after `after`:
 * by cursor, since an event the fold skips (a repeat, a step back) or folds into another has no state of its own.
 */
export function statesAfter<S extends { cursor?: string }>(history: readonly IndexedEvent[], states: readonly S[], after: EventPosition): S[] {
  const later = new Set(history.filter((event) => comparePositions(event, after) > 0).map((event) => event.position));
  return states.filter((state) => state.cursor !== undefined && later.has(state.cursor));
}

/** A page of an entity's history, as the GraphQL `EventConnection` has it: `first` events after the cursor `after`. */
export async function historyPage(reader: EventIndexReader, stream: EntityStream, first: number, after: string | null | undefined) {
  const events = await reader.history(stream, { after: after == null ? undefined : positionOf(after, stream.aggregateId), limit: first + 1 });
  const page = events.slice(0, first);
  return {
    edges: page.map((node) => ({ cursor: node.position, node })),
    pageInfo: { hasNextPage: events.length > first, endCursor: page.at(-1)?.position ?? null },
  };
}
