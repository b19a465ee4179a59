/** Messages in the wire format for tests that decode without a registry: framed with an id the process remembers. */
import type { Bus } from '../../services/shared/bus.ts';
import { subjectOf } from '../../services/shared/schemas.ts';
import { frame, jsonOf, schemaIds } from '../../services/shared/wire.ts';

/** The id unit tests frame JSON with; no registry gives out ids this high. */
export const TEST_SCHEMA_ID = 0x7fff_fff0;
schemaIds().remember(TEST_SCHEMA_ID, { schemaType: 'JSON', schema: '{}' });

/** A message value as a writer puts it on the log: `value` as JSON (a string as it is), framed. */
export const framed = (value: unknown): Buffer => frame(TEST_SCHEMA_ID, typeof value === 'string' ? value : JSON.stringify(value));

/** `value` framed as the bus writes it on logical `topic`: with its subject's schema id. */
export async function onTheWire(bus: Bus, topic: string, value: unknown): Promise<Buffer> {
  return frame(await schemaIds().writerId(subjectOf(bus.prefix, topic)), JSON.stringify(value));
}

/** The JSON a message value carries, for a test reading with its own consumer (which learns no schema ids). */
export async function payloadOf(value: Buffer | null): Promise<any> {
  await schemaIds().learn([value]);
  return jsonOf(schemaIds(), value);
}
