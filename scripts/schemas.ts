/**
 * `npm run schemas`: every topic's subject in the schema registry, with its versions and compatibility rule.
 * `npm run schemas -- check`: checks the working tree's contracts against the registry, registering nothing; exits 1,
 * naming each subject, what changed and the rule it breaks, when set-up would refuse one.
 */
import { resolve } from 'node:path';
import { DOMAINS } from '../services/domains.ts';
import { topicPrefix } from '../services/shared/config.ts';
import { createSchemaRegistry, incompatibleSchemas, topicSchemas, type SchemaRegistry } from '../services/shared/schemas.ts';

export async function listSchemas(registry: SchemaRegistry, prefix: string): Promise<string[]> {
  const lines: string[] = [];
  for (const topic of topicSchemas(DOMAINS, prefix)) {
    const { versions, compatibility } = await registry.state(topic.subject);
    lines.push(versions.length
      ? `${topic.subject}  versions ${versions.join(', ')}  ${compatibility ?? 'the registry default'}`
      : `${topic.subject}  not registered (npm run setup registers it)`);
  }
  return lines;
}

export async function checkSchemas(registry: SchemaRegistry, prefix: string): Promise<string[]> {
  return incompatibleSchemas(registry, topicSchemas(DOMAINS, prefix));
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const registry = createSchemaRegistry();
  const say = (line: string) => console.log(`[schemas] ${line}`);
  try {
    if (process.argv[2] === 'check') {
      const problems = await checkSchemas(registry, topicPrefix());
      for (const problem of problems) say(`refused: ${problem}`);
      if (problems.length) process.exit(1);
      say(`every contract's schemas are compatible with ${registry.url}`);
    } else if (process.argv[2] === undefined) {
      say(`subjects on ${registry.url}:`);
      for (const line of await listSchemas(registry, topicPrefix())) say(`  ${line}`);
    } else {
      say('usage: npm run schemas [-- check]');
      process.exit(2);
    }
  } catch (error) {
    say((error as Error).message);
    process.exit(1);
  }
}
