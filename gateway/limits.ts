/**
 * Limits on one GraphQL operation, as validation rules (a refused operation never runs), on HTTP and graphql-ws.
 * - aliases: only an alias makes a field run again (a repeated field is merged).
 * - cost: 1 per field, a subtree once per item: `first` items (20 omitted, 100 as a variable), other lists 20,
 *   except right under a field that took `first` (a connection's `edges` are that page).
 * - tokens: the parser stops after `maxTokens`.
 * Introspection fields count for nothing: answered from memory, and the playground's query is deeper than ours.
 */
// The CommonJS build, which Apollo, graphql-tools and graphql-ws load: under vitest a bare 'graphql' resolves
// to the ESM build, whose schema and error classes fail those libraries' instanceof checks.
import {
  GraphQLError, Kind, getNamedType, getNullableType, isInterfaceType, isListType, isObjectType,
  type ASTVisitor, type FieldNode, type GraphQLField, type GraphQLNamedType, type OperationDefinitionNode, type SelectionSetNode,
  type ValidationContext, type ValidationRule,
} from 'graphql/index.js';

export interface QueryLimits {
  /** Default: MAX_QUERY_DEPTH, or 10. */
  maxDepth: number;
  /** Default: MAX_ALIASES, or 30. */
  maxAliases: number;
  /** Default: MAX_QUERY_COST, or 10000. */
  maxCost: number;
  /** Tokens the parser reads before it gives up. Default: MAX_QUERY_TOKENS, or 2000 (the playground's introspection: 163). */
  maxTokens: number;
}

export type Limit = 'depth' | 'aliases' | 'cost';

/** Items assumed for a list field without `first`: the resolvers' default page size. */
const DEFAULT_PAGE = 20;
/** Items assumed when `first` is a variable: the largest page any field returns. */
const MAX_PAGE = 100;

export function queryLimitRules(limits: Omit<QueryLimits, 'maxTokens'>): ValidationRule[] {
  return [depthRule(limits.maxDepth), aliasRule(limits.maxAliases), costRule(limits.maxCost)];
}

function limitError(limit: Limit, max: number, actual: number, message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', limit, max, actual } });
}

function depthRule(max: number): ValidationRule {
  return (context) => ({
    OperationDefinition(operation) {
      const { depth } = measurerOf(context).operation(operation);
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
      const { cost } = measurerOf(context).operation(operation);
      if (cost > max) {
        context.reportError(limitError('cost', max, cost,
          `this operation would cost about ${cost}; at most ${max} is allowed (MAX_QUERY_COST): ` +
            'ask for smaller pages (`first`), fewer fields or fewer aliases, and page on with `after`'));
      }
    },
  });
}

interface Size {
  depth: number;
  cost: number;
}

// One measurer per validation (the depth and cost rules share it), so each operation and each fragment is
// measured once: expanding a fragment again at every spread made chained fragments cost 2^N walks.
const measurers = new WeakMap<ValidationContext, ReturnType<typeof createMeasurer>>();

function measurerOf(context: ValidationContext) {
  let measurer = measurers.get(context);
  if (!measurer) measurers.set(context, (measurer = createMeasurer(context)));
  return measurer;
}

/** Depth and cost of selection sets, fragments expanded, in linear time. Unknown fields count as plain ones. */
function createMeasurer(context: ValidationContext) {
  const schema = context.getSchema();
  const operations = new Map<OperationDefinitionNode, Size>();
  // A fragment's size depends only on whether it sits right under a paged field.
  const fragments = new Map<string, Size>();
  const inProgress = new Set<string>();

  function fragment(name: string, parentPaged: boolean): Size {
    const key = `${parentPaged}:${name}`;
    const known = fragments.get(key);
    if (known) return known;
    const definition = context.getFragment(name);
    // A fragment that spreads itself is reported by NoFragmentCyclesRule; here it only must not loop.
    if (!definition || inProgress.has(key)) return { depth: 0, cost: 0 };
    inProgress.add(key);
    const size = selectionSet(definition.selectionSet, schema.getType(definition.typeCondition.name.value) ?? undefined, parentPaged);
    inProgress.delete(key);
    fragments.set(key, size);
    return size;
  }

  function selectionSet(set: SelectionSetNode, type: GraphQLNamedType | undefined, parentPaged: boolean): Size {
    let depth = 0;
    let cost = 0;
    const add = (part: Size) => {
      depth = Math.max(depth, part.depth);
      cost += part.cost;
    };
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value.startsWith('__')) continue;
        const definition = fieldOf(type, selection.name.value);
        const items = pageSize(selection, definition, parentPaged);
        const below = selection.selectionSet
          ? selectionSet(selection.selectionSet, definition && getNamedType(definition.type), items.paged)
          : { depth: 0, cost: 0 };
        add({ depth: 1 + below.depth, cost: 1 + (items.paged || (definition && isListType(getNullableType(definition.type))) ? items.count : 1) * below.cost });
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const on = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) ?? undefined : type;
        add(selectionSet(selection.selectionSet, on, parentPaged));
      } else {
        add(fragment(selection.name.value, parentPaged));
      }
    }
    return { depth, cost };
  }

  return {
    operation(operation: OperationDefinitionNode): Size {
      let size = operations.get(operation);
      if (!size) operations.set(operation, (size = selectionSet(operation.selectionSet, schema.getRootType(operation.operation) ?? undefined, false)));
      return size;
    },
  };
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
