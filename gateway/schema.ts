/**
 * The root schema.graphql is the whole public contract, composed from the gateway's own part
 * (gateway/schema.graphql: scalars, directives, root types) and each domain's slice
 * (services/<domain>/graphql/schema.graphql). `npm run schema` writes it; a test fails when it is stale.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { mergeTypeDefs } from '@graphql-tools/merge';
import { Kind, print, type DocumentNode } from 'graphql';

const ROOT = resolve(import.meta.dirname, '..');
export const SCHEMA_FILE = resolve(ROOT, 'schema.graphql');

const HEADER = '# Composed by `npm run schema` from gateway/schema.graphql and services/<domain>/graphql/schema.graphql. Do not edit.\n\n';

/** The composed SDL for the given slices' type definitions. */
export function composeSchema(sliceTypeDefs: string[]): string {
  const own = readFileSync(resolve(import.meta.dirname, 'schema.graphql'), 'utf8');
  const merged = mergeTypeDefs([own, ...sliceTypeDefs], { useSchemaDefinition: true, throwOnConflict: true, sort: false });
  return HEADER + print(withoutEmptyRoots(merged)) + '\n';
}

/** Leaves out a root type no slice added a field to (e.g. Subscription for domains without live feeds): GraphQL refuses an empty one. */
function withoutEmptyRoots(document: DocumentNode): DocumentNode {
  const empty = new Set(document.definitions.flatMap((d) => (d.kind === Kind.OBJECT_TYPE_DEFINITION && !d.fields?.length ? [d.name.value] : [])));
  return {
    ...document,
    definitions: document.definitions
      .filter((d) => !(d.kind === Kind.OBJECT_TYPE_DEFINITION && empty.has(d.name.value)))
      .map((d) => (d.kind === Kind.SCHEMA_DEFINITION ? { ...d, operationTypes: d.operationTypes.filter((t) => !empty.has(t.type.name.value)) } : d)),
  };
}

/** The committed contract the gateway serves. */
export function readSchema(): string {
  return readFileSync(SCHEMA_FILE, 'utf8');
}
