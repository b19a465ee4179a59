/** Messages in the wire format for tests that decode without a registry: framed with an id the process remembers. */
import { frame, schemaIds } from '../../services/shared/wire.ts';

/** The id unit tests frame JSON with; no registry gives out ids this high. */
export const TEST_SCHEMA_ID = 0x7fff_fff0;
schemaIds().remember(TEST_SCHEMA_ID, { schemaType: 'JSON', schema: '{}' });

/** A message value as a writer puts it on the log: `value` as JSON (a string as it is), framed. */
export const framed = (value: unknown): Buffer => frame(TEST_SCHEMA_ID, typeof value === 'string' ? value : JSON.stringify(value));
