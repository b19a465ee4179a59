/** The domains the gateway serves: each domain of services/domains.ts with its GraphQL slice (services/<domain>/graphql/index.ts). */
import { DOMAINS } from '../services/domains.ts';
import type { AnyContract } from '../services/shared/messages.ts';
import type { GraphQLSlice } from '../services/shared/graphql/index.ts';

export interface ServedDomain {
  contract: AnyContract;
  slice: GraphQLSlice;
}

export async function loadDomains(): Promise<ServedDomain[]> {
  return Promise.all(
    DOMAINS.map(async (contract) => {
      const { domain } = contract;
      return { contract, slice: (await import(`../services/${domain}/graphql/index.ts`)).default as GraphQLSlice };
    }),
  );
}

export async function loadSlices(): Promise<GraphQLSlice[]> {
  return (await loadDomains()).map(({ slice }) => slice);
}
