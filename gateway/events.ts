/**
 * The resolvers of the gateway's own event types (gateway/schema.graphql): any domain's history is a page of
 * `IndexedEvent`s from the runtime's event index (services/shared/event-index.ts).
 */
import { GraphQLScalarType, Kind, type ValueNode } from 'graphql';
import type { IndexedEvent } from '../services/shared/event-index.ts';
import { isAdmin, type ViewerContext } from '../services/shared/graphql/index.ts';

/** A literal in a query as the JSON value it spells (variables arrive parsed already). */
function literalValue(ast: ValueNode): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
    case Kind.ENUM:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return ast.values.map(literalValue);
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((field) => [field.name.value, literalValue(field.value)]));
    default:
      return undefined; // a variable inside a literal: not used by any field that takes JSON
  }
}

export const eventResolvers = {
  JSON: new GraphQLScalarType({
    name: 'JSON',
    serialize: (value) => value,
    parseValue: (value) => value,
    parseLiteral: literalValue,
  }),
  Event: {
    __resolveType: () => 'DomainEvent',
  },
  DomainEvent: {
    // Who acted is theirs to see, and admins'.
    actor: (event: IndexedEvent, _: unknown, { viewer }: ViewerContext) =>
      event.actor && viewer && (isAdmin(viewer) || viewer.sub === event.actor.sub) ? event.actor : null,
  },
};
