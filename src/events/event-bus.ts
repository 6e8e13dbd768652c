import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { EventInput } from "./vocabulary";

export type { Actor, EventAction, EventInput, PrincipalKind, RegistryAction, RequestSummary } from "./vocabulary";

/** A recorded event as subscribers see it: with an id and a timestamp. */
export type BerthEvent = EventInput & { id: string; timestamp: Date };

/** Where actions are recorded: the one path every layer and the CLI use (the EventBus). */
export interface EventSink {
  record(event: EventInput): void;
}

export type EventListener = (event: BerthEvent) => void;

/**
 * The one path every action takes: the registry API, the web UI, the admin API, the CLI and the garbage
 * collector record here, and the audit log, the webhook notifier (and anything else, e.g. metrics)
 * subscribe. Listeners run synchronously on the request path, so they must only enqueue; one listener's
 * failure never reaches the others or the client.
 */
export class EventBus implements EventSink {
  private readonly listeners = new Set<EventListener>();

  constructor(private readonly logger?: Logger) {}

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  record(input: EventInput): void {
    const event: BerthEvent = { ...input, id: randomUUID(), timestamp: new Date() };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger?.error({ err, action: event.action }, "an event listener failed");
      }
    }
  }
}
