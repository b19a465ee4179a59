/** The GraphQL slices of every domain in services/domains.ts (services/<domain>/graphql/index.ts). */
import { DOMAINS } from '../services/domains.ts';
import type { GraphQLSlice } from './context.ts';

export async function loadSlices(): Promise<GraphQLSlice[]> {
  return Promise.all(
    DOMAINS.map(async ({ domain }) => (await import(`../services/${domain}/graphql/index.ts`)).default as GraphQLSlice),
  );
}
