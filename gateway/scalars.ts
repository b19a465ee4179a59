/** Scalars of the gateway's own part of the schema (gateway/schema.graphql), shared by every domain. */
import { GraphQLScalarType, Kind } from 'graphql';
import { SystemError } from '../services/shared/errors.ts';

export const DateTime = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  serialize: (value) => (value instanceof Date ? value : new Date(String(value))).toISOString(),
  parseValue: (value) => new Date(String(value)),
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw new SystemError('BAD_USER_INPUT', 'DateTime must be an ISO 8601 string');
    return new Date(ast.value);
  },
});
