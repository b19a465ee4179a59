/** Which operation a request runs, and the sentence a client gets when its request does not say. */
import { parse } from 'graphql/index.js';
import { describe, expect, it } from 'vitest';
import { selectOperation } from './operation.ts';

const TWO = parse('query A { inventory { product } } query B { inventory { stock } }');

describe('selectOperation', () => {
  it('runs the only operation, or the one named', () => {
    expect(selectOperation(parse('{ inventory { product } }'), undefined)).toMatchObject({ kind: 'OperationDefinition' });
    expect(selectOperation(TWO, 'B')).toMatchObject({ name: { value: 'B' } });
  });

  it('asks for operationName when a document has several and none is named', () => {
    expect(selectOperation(TWO, undefined)).toBe('this document has 2 operations and no operationName says which to run: send one of "A", "B" as operationName');
    expect(selectOperation(TWO, null)).toMatch(/no operationName says which/);
    expect(selectOperation(parse('{ a: inventory { product } } { b: inventory { product } }'), undefined)).toMatch(/name the operations/);
  });

  it('names the operations a client could have sent for an unknown name', () => {
    expect(selectOperation(TWO, 'C')).toBe('this document has no operation named "C": send one of "A", "B" as operationName');
    expect(selectOperation(parse('{ inventory { product } }'), 'A')).toMatch(/no operation named "A"/);
  });
});
