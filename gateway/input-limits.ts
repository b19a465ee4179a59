/**
 * Bounds on every argument (`@limit(...)` overrides the defaults), checked before a resolver runs: the projections
 * can store everything that passes.
 */
import {
  defaultFieldResolver, getDirectiveValues, getNullableType, isInputObjectType, isListType, isObjectType, isScalarType,
  type GraphQLArgument, type GraphQLInputField, type GraphQLInputType, type GraphQLSchema,
} from 'graphql';
import { SystemError } from '../services/shared/errors.ts';

/** Characters (UTF-16 units) in any ID or String without its own `maxLength`: keeps every key well under PostgreSQL's index row limit. */
export const DEFAULT_MAX_LENGTH = 200;
/** Items in any list argument. */
export const DEFAULT_MAX_ITEMS = 100;

interface Bounds {
  maxLength?: number;
  min?: number;
  max?: number;
  maxDecimals?: number;
}

/**
 * Characters no id or name may hold: controls (PostgreSQL refuses NUL), invisible format characters (U+202E, U+200B:
 * a name that reads as another), U+2028/U+2029, and lone surrogates (not storable as UTF-8).
 */
const UNSAFE: [RegExp, string][] = [
  [/\p{Cc}/u, 'the control character'],
  [/\p{Cf}/u, 'the invisible format character'],
  [/\p{Zl}/u, 'the line separator'],
  [/\p{Zp}/u, 'the paragraph separator'],
  [/\p{Cs}/u, 'the unpaired UTF-16 surrogate'],
];
const ANY_UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

/** What is wrong with an id's or a name's characters ("contains … at position n; …"), or undefined when nothing is. */
export function unsafeCharacter(value: string): string | undefined {
  const found = ANY_UNSAFE.exec(value);
  if (!found) return undefined;
  const [, kind] = UNSAFE.find(([category]) => category.test(found[0]))!;
  const code = found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
  return `contains ${kind} U+${code} at position ${found.index}; remove it`;
}

const refuse = (field: string, limit: string, message: string, max?: number) =>
  new SystemError('BAD_USER_INPUT', message, false, { field, limit, ...(max === undefined ? {} : { max }) });

function checkString(value: string, bounds: Bounds, field: string): void {
  const maxLength = bounds.maxLength ?? DEFAULT_MAX_LENGTH;
  if (value.length > maxLength) {
    throw refuse(field, 'maxLength', `${field} is ${value.length} characters long; at most ${maxLength} are allowed`, maxLength);
  }
  const unsafe = unsafeCharacter(value);
  if (unsafe) throw refuse(field, 'characters', `${field} ${unsafe}`);
}

function checkNumber(value: number, bounds: Bounds, field: string): void {
  if (!Number.isFinite(value)) throw refuse(field, 'finite', `${field} must be a finite number`);
  if (bounds.max !== undefined && value > bounds.max) {
    throw refuse(field, 'max', `${field} is too large (${value}): at most ${bounds.max} is allowed`, bounds.max);
  }
  if (bounds.min !== undefined && value < bounds.min) {
    throw refuse(field, 'min', `${field} is too small (${value}): at least ${bounds.min} is allowed`, bounds.min);
  }
  // The decimal the client wrote is the shortest one that reads back as this number.
  if (bounds.maxDecimals !== undefined && Number(value.toFixed(bounds.maxDecimals)) !== value) {
    throw refuse(field, 'maxDecimals', `${field} has more decimals than ${bounds.maxDecimals} (${value}); round it to ${bounds.maxDecimals} decimal place${bounds.maxDecimals === 1 ? '' : 's'}`, bounds.maxDecimals);
  }
}

type LimitsOf = (input: GraphQLArgument | GraphQLInputField) => Bounds;

function checkValue(value: unknown, type: GraphQLInputType, bounds: Bounds, field: string, limitsOf: LimitsOf): void {
  if (value === null || value === undefined) return;
  const nullable = getNullableType(type);
  if (isListType(nullable)) {
    const items = value as unknown[];
    if (items.length > DEFAULT_MAX_ITEMS) throw refuse(field, 'maxItems', `${field} has ${items.length} items; at most ${DEFAULT_MAX_ITEMS} are allowed`, DEFAULT_MAX_ITEMS);
    items.forEach((item, i) => checkValue(item, nullable.ofType, bounds, `${field}[${i}]`, limitsOf));
  } else if (isInputObjectType(nullable)) {
    const object = value as Record<string, unknown>;
    for (const inner of Object.values(nullable.getFields())) {
      checkValue(object[inner.name], inner.type, limitsOf(inner), `${field}.${inner.name}`, limitsOf);
    }
  } else if (isScalarType(nullable)) {
    if (typeof value === 'string' && (nullable.name === 'String' || nullable.name === 'ID')) checkString(value, bounds, field);
    if (typeof value === 'number') checkNumber(value, bounds, field);
    // The DateTime scalar reads any string into a Date; one that names no moment is refused here, naming the field.
    if (value instanceof Date && Number.isNaN(value.getTime())) {
      throw refuse(field, 'format', `${field} is not an ISO 8601 date-time: send one such as 2026-11-25T10:00:00.000Z`);
    }
  }
}

/** Wraps every field that takes arguments so they are checked first. Returns the same schema. */
export function enforceInputLimits(schema: GraphQLSchema): GraphQLSchema {
  const directive = schema.getDirective('limit');
  if (!directive) throw new Error('schema.graphql must declare the @limit directive');
  const limitsOf: LimitsOf = (input) => (input.astNode ? (getDirectiveValues(directive, input.astNode) ?? {}) : {}) as Bounds;
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      if (!field.args.length) continue;
      const args = field.args.map((arg) => ({ name: arg.name, type: arg.type, bounds: limitsOf(arg) }));
      const check = (values: Record<string, unknown>) => {
        for (const arg of args) checkValue(values[arg.name], arg.type, arg.bounds, arg.name, limitsOf);
      };
      // A subscription's arguments are checked once, when it starts; its resolve runs per event.
      if (field.subscribe) {
        const subscribe = field.subscribe;
        field.subscribe = (source, values, context, info) => {
          check(values);
          return subscribe(source, values, context, info);
        };
      } else {
        const resolve = field.resolve ?? defaultFieldResolver;
        field.resolve = (source, values, context, info) => {
          check(values);
          return resolve(source, values, context, info);
        };
      }
    }
  }
  return schema;
}
