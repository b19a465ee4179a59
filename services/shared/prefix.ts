/**
 * A topic prefix's topics and schemas, made as set-up makes them. Every writer tags its messages with its subject's
 * schema id (wire.ts), so a prefix's topics are of no use without its subjects: tests, benches and set-up make both
 * here, and whoever made a throwaway prefix takes both away with `remove`.
 */
import type { Kafka } from 'kafkajs';
import { deleteTopicsAndGroups, ensureTopics, systemTopics } from './bus.ts';
import type { AnyContract } from './messages.ts';
import { createSchemaRegistry, registerSchemas, topicSchemas } from './schemas.ts';

export interface ProvisionedPrefix {
  /** The topics created now (those already there are left as they are). */
  created: string[];
  /** The subjects given a new version now. */
  registered: string[];
  /** Deletes the prefix's topics, consumer groups and subjects. */
  remove(): Promise<void>;
}

export async function provisionPrefix(kafka: Kafka, contracts: readonly AnyContract[], prefix: string): Promise<ProvisionedPrefix> {
  const created = await ensureTopics(kafka, systemTopics(contracts), prefix);
  const registry = createSchemaRegistry();
  const registered = await registerSchemas(registry, topicSchemas(contracts, prefix));
  return {
    created,
    registered,
    async remove() {
      await deleteTopicsAndGroups(kafka, prefix);
      await registry.deleteSubjects(prefix);
    },
  };
}
