/**
 * The one error type of the system. `code` is machine-readable and reaches GraphQL clients as
 * `extensions.code`; `retriable` tells consumers whether to retry a message or give up on it.
 */
/** The runtime's own codes; a domain adds its own in its contract (e.g. ORDER_ID_CONFLICT). */
export type RuntimeErrorCode =
  | 'BAD_USER_INPUT'
  | 'TIMEOUT'
  | 'NOT_FOUND'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'INVALID_MESSAGE'
  | 'MESSAGE_TOO_LARGE'
  | 'LOG_MISMATCH'
  | 'INTERNAL_SERVER_ERROR'
  | 'UNAVAILABLE'
  /** Another instance took over the task this one wrote for (Kafka transactions): it must stop writing for it. */
  | 'FENCED';

// Any string is a code, and the runtime's are offered first.
export type ErrorCode = RuntimeErrorCode | (string & {});

export class SystemError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retriable = false,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'SystemError';
  }
}

/**
 * A client-chosen id that is already another entity's: the same answer whoever holds it and whatever it holds,
 * so it tells nothing of that entity, and it says how to avoid the next one.
 */
export function idTaken(code: ErrorCode, entity: string, id: string): SystemError {
  return new SystemError(code, `${entity} id ${JSON.stringify(id)} is already taken: omit id to have one generated, or choose an id nobody can guess (a UUID)`);
}

/** Ends a switch over a discriminated union: adding a member fails the build where it is not handled. */
export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}

/**
 * `work`, or a retriable UNAVAILABLE error once it has not settled within `ms`, instead of a wait without end (a
 * chaos run in CI saw two services wait silently after a broker restart). `work` itself goes on unobserved.
 */
export function withinTime<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SystemError('UNAVAILABLE', `${what} did not finish within ${Math.round(ms / 1000)} s`, true)), ms);
  });
  work.catch(() => {}); // a late failure of abandoned work is not unhandled
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
