import { expect, it } from 'vitest';
import type { Logger } from '../services/shared/log.ts';
import { createErrorFormatter } from './errors.ts';

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };
const format = createErrorFormatter(quiet);
const asResolverError = (originalError: unknown) => ({ name: 'GraphQLError', message: 'x', originalError });

it('answers a lost database connection with a retriable UNAVAILABLE, not a masked internal error', () => {
  // What pg rejects a query with when PostgreSQL ends the connection (pg_terminate_backend, a restart).
  const terminated = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01', severity: 'FATAL' });
  const unreachable = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  const dropped = new Error('Connection terminated unexpectedly');
  for (const lost of [terminated, unreachable, dropped]) {
    expect(format({ message: 'x', path: ['orders'] }, asResolverError(lost))).toMatchObject({
      path: ['orders'],
      extensions: { code: 'UNAVAILABLE', retriable: true },
    });
  }
});

it('still masks any other error as INTERNAL_SERVER_ERROR', () => {
  const bug = Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });
  expect(format({ message: 'x' }, asResolverError(bug))).toEqual({
    message: 'internal error: the gateway logged the details',
    extensions: { code: 'INTERNAL_SERVER_ERROR' },
  });
});
