import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { AuditEventInput } from "../audit/audit-log";

/** Where an event's request came from (the CNCF notification envelope's `request` block). */
export interface RequestSummary {
  id: string;
  /** Client address (trusted proxies resolved). */
  addr: string;
  host: string;
  method: string;
  useragent: string;
  /** How the client reached Berth (externalUrl, else scheme://host): for absolute URLs in notifications. */
  origin: string;
}

/** What a handler records: the audit fields, plus the request it happened in. */
export interface RecordedEvent extends AuditEventInput {
  request?: RequestSummary;
}

/** A recorded event as subscribers see it: with an id and a timestamp. */
export interface RegistryEvent extends RecordedEvent {
  id: string;
  timestamp: Date;
}

/** What the /v2 handlers need: somewhere to record what happened. The AuditLog satisfies it too. */
export interface EventSink {
  record(event: RecordedEvent): void;
}

export type EventListener = (event: RegistryEvent) => void;

/**
 * One place registry events go through: the handlers record pushes, pulls and deletes here, and the audit
 * log and the webhook notifier (and anything else, e.g. metrics) subscribe. Listeners run synchronously on
 * the request path, so they must only enqueue; one listener's failure never reaches the others or the client.
 */
export class EventBus implements EventSink {
  private readonly listeners = new Set<EventListener>();

  constructor(private readonly logger?: Logger) {}

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  record(input: RecordedEvent): void {
    const event: RegistryEvent = { ...input, id: randomUUID(), timestamp: new Date() };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger?.error({ err, action: event.action }, "an event listener failed");
      }
    }
  }
}
