/**
 * Limits on what one GraphQL operation may ask for, as validation rules: a refused operation never runs, so it
 * costs one parse and one walk of its document. The same rules guard HTTP (Apollo) and graphql-ws.
 *
 * - depth: the deepest nesting of fields.
 * - aliases: fields whose alias differs from their name, in the whole document. A field selected twice under
 *   its own name is merged by GraphQL and runs once; only aliases make it run again.
 * - cost: every field costs 1, and a field's subtree counts once per item it may return. A field that takes
 *   `first` returns `first` items (20 when omitted, 100 when a variable: its value is not known yet); any
 *   other list field 20, except right under a field that took `first` (a connection's `edges` are that page).
 *
 * Introspection fields (`__schema`, `__type`, `__typename`) count for nothing: they are answered from memory,
 * and the playground's own introspection query is deeper than any query of ours.
 */
// The CommonJS build, which Apollo, graphql-tools and graphql-ws load: under vitest a bare 'graphql' resolves
// to the ESM build, whose schema and error classes fail those libraries' instanceof checks.
import {
  GraphQLError, Kind, getNamedType, getNullableType, isInterfaceType, isListType, isObjectType,
  type ASTVisitor, type FieldNode, type GraphQLField, type GraphQLNamedType, type OperationTypeNode, type SelectionSetNode,
  type ValidationContext, type ValidationRule,
} from 'graphql/index.js';

export interface QueryLimits {
  /** Default: MAX_QUERY_DEPTH, or 10. */
  maxDepth: number;
  /** Default: MAX_ALIASES, or 30. */
  maxAliases: number;
  /** Default: MAX_QUERY_COST, or 10000. */
  maxCost: number;
}

export type Limit = 'depth' | 'aliases' | 'cost';

/** Items assumed for a list field without `first`: the resolvers' default page size. */
const DEFAULT_PAGE = 20;
/** Items assumed when `first` is a variable: the largest page any field returns. */
const MAX_PAGE = 100;

export function queryLimitRules(limits: QueryLimits): ValidationRule[] {
  return [depthRule(limits.maxDepth), aliasRule(limits.maxAliases), costRule(limits.maxCost)];
}

function limitError(limit: Limit, max: number, actual: number, message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', limit, max, actual } });
}

function depthRule(max: number): ValidationRule {
  return (context) => ({
    OperationDefinition(operation) {
      const depth = measure(context, operation.selectionSet, rootType(context, operation.operation)).depth;
      if (depth > max) {
        context.reportError(limitError('depth', max, depth,
          `this operation nests fields ${depth} levels deep; at most ${max} are allowed (MAX_QUERY_DEPTH): ` +
            'select less deeply, and fetch the deeper part with a second query'));
      }
    },
  });
}

function aliasRule(max: number): ValidationRule {
  return (context): ASTVisitor => {
    let aliases = 0;
    return {
      Field(field) {
        if (field.alias && field.alias.value !== field.name.value) aliases += 1;
      },
      Document: {
        leave() {
          if (aliases > max) {
            context.reportError(limitError('aliases', max, aliases,
              `this document has ${aliases} aliased fields; at most ${max} are allowed (MAX_ALIASES): ` +
                'send the rest in further requests, or use a list field such as `inventory` or `orders(first:)`'));
          }
        },
      },
    };
  };
}

function costRule(max: number): ValidationRule {
  return (context) => ({
    OperationDefinition(operation) {
      const cost = measure(context, operation.selectionSet, rootType(context, operation.operation)).cost;
      if (cost > max) {
        context.reportError(limitError('cost', max, cost,
          `this operation would cost about ${cost}; at most ${max} is allowed (MAX_QUERY_COST): ` +
            'ask for smaller pages (`first`), fewer fields or fewer aliases, and page on with `after`'));
      }
    },
  });
}

function rootType(context: ValidationContext, operation: OperationTypeNode) {
  return context.getSchema().getRootType(operation) ?? undefined;
}

/**
 * Depth and cost of a selection set, fragments expanded. `parentPaged` is true right under a field that
 * took `first`. Unknown fields and types (reported by GraphQL's own rules) count as plain fields.
 */
function measure(
  context: ValidationContext,
  selectionSet: SelectionSetNode,
  type: GraphQLNamedType | undefined,
  parentPaged = false,
  fragmentsInUse = new Set<string>(),
): { depth: number; cost: number } {
  let depth = 0;
  let cost = 0;
  const add = (part: { depth: number; cost: number }) => {
    depth = Math.max(depth, part.depth);
    cost += part.cost;
  };
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value.startsWith('__')) continue;
      const definition = fieldOf(type, selection.name.value);
            const items = pageSize(selection, definition, parentPaged);
      const below = selection.selectionSet
        ? measure(context, selection.selectionSet, definition && getNamedType(definition.type), items.paged, fragmentsInUse)
        : { depth: 0, cost: 0 };
      add({ depth: 1 + below.depth, cost: 1 + (items.paged || (definition && isListType(getNullableType(definition.type))) ? items.count : 1) * below.cost });
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const on = selection.typeCondition ? context.getSchema().getType(selection.typeCondition.name.value) : type;
      add(measure(context, selection.selectionSet, on, parentPaged, fragmentsInUse));
    } else {
      const name = selection.name.value;
      const fragment = context.getFragment(name);
      // A fragment that spreads itself is reported by NoFragmentCyclesRule; here it only must not loop.
      if (!fragment || fragmentsInUse.has(name)) continue;
      fragmentsInUse.add(name);
      add(measure(context, fragment.selectionSet, context.getSchema().getType(fragment.typeCondition.name.value), parentPaged, fragmentsInUse));
      fragmentsInUse.delete(name);
    }
  }
  return { depth, cost };
}

function fieldOf(type: GraphQLNamedType | undefined, name: string): GraphQLField<unknown, unknown> | undefined {
  return isObjectType(type) || isInterfaceType(type) ? type.getFields()[name] : undefined;
}

/** How many items a field returns: `paged` when it takes `first`. */
function pageSize(field: FieldNode, definition: GraphQLField<unknown, unknown> | undefined, parentPaged: boolean) {
  if (definition?.args.some((arg) => arg.name === 'first')) {
    const first = field.arguments?.find((arg) => arg.name.value === 'first')?.value;
    if (!first || first.kind === Kind.NULL) return { paged: true, count: DEFAULT_PAGE };
    if (first.kind === Kind.INT) return { paged: true, count: Math.max(0, Number(first.value)) };
    return { paged: true, count: MAX_PAGE };
  }
  return { paged: false, count: parentPaged ? 1 : DEFAULT_PAGE };
}
