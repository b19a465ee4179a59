/** Test helpers of the rides domain: its commands and events as the dispatcher would see them. */
import { eventOf } from '../../test/support/decider.ts';
import { ridesContract, type Command, type DomainEvent } from './contract.ts';

export const command = (c: Command) => ridesContract.command(c);
export const event = (e: DomainEvent, at?: Date) => eventOf(ridesContract, e, at);
