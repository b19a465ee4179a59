/** Test helpers of the orders domain: its commands and events as its services would see them. */
import { eventOf } from '../../test/support/decider.ts';
import { ordersContract, type Command, type DomainEvent } from './contract.ts';

export const command = (c: Command) => ordersContract.command(c);
export const event = (e: DomainEvent, at?: Date) => eventOf(ordersContract, e, at);
