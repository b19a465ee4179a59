import { expect, it } from 'vitest';
import { sqlIdentifier, statementOf } from './db.ts';

it('compiles a tagged template to placeholders and text parameters, never splicing a value in', () => {
  const at = new Date('2026-12-07T10:00:00.000Z');
  expect(statementOf`SELECT ${"x'; DROP TABLE t; --"}, ${5n}, ${[1, null, at]}::text[], ${undefined}`).toEqual({
    text: 'SELECT $1, $2, $3::text[], $4',
    values: ["x'; DROP TABLE t; --", '5', ['1', null, '2026-12-07T10:00:00.000Z'], null],
  });
});

it("takes a contract's plain table names as identifiers, quoted, and refuses anything else", () => {
  expect(sqlIdentifier('order_validations')).toBe('"order_validations"');
  for (const hostile of ['orders"; DROP TABLE orders; --', 'Orders', '', 'a'.repeat(64), 'x y']) expect(() => sqlIdentifier(hostile)).toThrow('is not a table or column name');
});
