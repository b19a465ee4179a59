/**
 * Sends commands and answers once their outcome is known and visible to queries (read-your-writes):
 * it waits for the handler's reply on `command.replies`, then for the projectors to apply the events
 * the reply points at.
 */
import type { Histogram } from 'prom-client';
import type { Bus } from '../services/shared/bus.ts';
import { SystemError, type ErrorCode } from '../services/shared/errors.ts';
import type { CommandGateway, ProjectionWatcher } from '../services/shared/graphql/index.ts';
import type { CommandEnvelope, CommandReply, Outgoing } from '../services/shared/messages.ts';

export function createCommandGateway(
  bus: Bus,
  watcher: ProjectionWatcher,
  projectorsOf: (topic: string) => string[],
  /** Observed once per command, labelled by its type and outcome (`accepted`, an error code, or `error`). */
  latency: Histogram<'type' | 'outcome'>,
  /**
   * Where facts no service answers go (`publish`: thousands of positions a second). A bus of their own, so a command
   * never waits behind them: a producer keeps one request in flight, and a broker answers one connection's requests
   * one at a time. Default: `bus`.
   */
  facts: Pick<Bus, 'publish'> = bus,
): CommandGateway {
  const pending = new Map<string, (reply: CommandReply) => void>();

  async function send(message: Outgoing, timeoutMs: number, visible: boolean): Promise<CommandReply> {
    const command = message.envelope as CommandEnvelope;
    const { commandId } = command;
    const deadline = Date.now() + timeoutMs;
    const timedOut = () =>
      new SystemError('TIMEOUT', `command ${commandId} (${command.type}) got no outcome within ${timeoutMs} ms; it may still complete: query for it later`, true, { commandId });
    const replied = new Promise<CommandReply>((resolve) => pending.set(commandId, resolve));
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(timedOut()), timeoutMs); });
    expired.catch(() => {}); // observed by the races below; this only keeps a late expiry from being "unhandled"
    try {
      // The deadline covers the send too: with the broker away, kafkajs retries for longer than a client waits.
      await Promise.race([
        bus.publish([message]).catch((error: Error) => {
          throw new SystemError('UNAVAILABLE', `command ${commandId} could not be sent to Kafka (${error.message}); retry later`, true, { commandId });
        }),
        expired,
      ]);
      const reply = await Promise.race([replied, expired]);
      if (reply.status === 'REJECTED') {
        throw new SystemError((reply.code ?? 'BAD_USER_INPUT') as ErrorCode, reply.message ?? 'command rejected', false, { ...reply.details, commandId });
      }
      if (!visible) return reply;
      await Promise.all(
        reply.positions.map((position) =>
          watcher.reached(projectorsOf(position.topic), position, Math.max(0, deadline - Date.now())),
        ),
      ).catch((error) => {
        throw error instanceof SystemError && error.code === 'TIMEOUT' ? timedOut() : error;
      });
      return reply;
    } finally {
      clearTimeout(timer);
      pending.delete(commandId);
    }
  }

  return {
    async publish(messages, timeoutMs) {
      const what = `${messages.length} message(s)`;
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new SystemError('UNAVAILABLE', `Kafka did not take ${what} within ${timeoutMs} ms; retry later`, true)), timeoutMs);
      });
      try {
        await Promise.race([
          facts.publish(messages).catch((error: Error) => {
            throw new SystemError('UNAVAILABLE', `${what} could not be sent to Kafka (${error.message}); retry later`, true);
          }),
          expired,
        ]);
      } finally {
        clearTimeout(timer);
      }
    },

    onReply(reply) {
      pending.get(reply.commandId)?.(reply);
    },

    async execute(command, timeoutMs, { visible = true } = {}) {
      const stopTimer = latency.startTimer({ type: command.envelope.type });
      let outcome = 'error';
      try {
        const reply = await send(command, timeoutMs, visible);
        outcome = 'accepted';
        return reply;
      } catch (error) {
        if (error instanceof SystemError) outcome = error.code;
        throw error;
      } finally {
        stopTimer({ outcome });
      }
    },
  };
}
