/** `npm run schema`: writes the root schema.graphql from the gateway's part and every domain's slice. */
import { writeFileSync } from 'node:fs';
import { composeSchema, SCHEMA_FILE } from '../gateway/schema.ts';
import { loadSlices } from '../gateway/slices.ts';

writeFileSync(SCHEMA_FILE, composeSchema((await loadSlices()).map((slice) => slice.typeDefs)));
console.log(`[schema] wrote ${SCHEMA_FILE}; run \`npm run codegen\` for the resolver types`);
