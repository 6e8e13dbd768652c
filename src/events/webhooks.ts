import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { glob, type WholeMatch } from "../kernel/patterns";
import type { NotificationAction, NotificationEndpointConfig } from "../config/ops";
import type { Metrics } from "../metrics/metrics";
import type { BerthEvent } from "./event-bus";
import {
  ENVELOPE_MEDIA_TYPE,
  SIGNATURE_HEADER,
  signBody,
  toNotificationEvent,
  type EnvelopeSource,
  type NotificationEvent,
} from "./notification-envelope";

/** Events sent together in one envelope at most. */
const MAX_BATCH = 20;

export interface WebhookOptions {
  queueSize: number;
  logger: Logger;
  metrics?: Metrics;
  source: EnvelopeSource;
  /** For tests; project endpoints' deliveries go through their network guard. */
  fetch?: typeof fetch;
  /** Told of every delivery attempt (project endpoints keep their last ones for the UI). */
  onAttempt?: (attempt: DeliveryAttempt) => Promise<void> | void;
}

/** One POST to a receiver and how it went. */
export interface DeliveryAttempt {
  at: Date;
  /** The actions in the batch, comma-separated ("push", "push,delete"; "test" for a test delivery). */
  event: string;
  success: boolean;
  /** The receiver's HTTP status; null when it did not answer (refused, unreachable, timed out). */
  httpStatus: number | null;
  durationMs: number;
  error: string | null;
}

/**
 * Webhook notifications, off the request path: each endpoint has its own bounded queue and one delivery
 * loop, so a slow or dead receiver delays only its own events. A delivery POSTs `{"events": [...]}` (up to
 * 20 queued events at once) and succeeds on any 2xx; anything else, or no answer within the timeout, is
 * retried after backoffSeconds, doubling up to maxBackoffSeconds, for maxAttempts attempts in all; then the
 * batch is dropped and logged. Every attempt of one delivery carries the same X-Berth-Delivery id, so
 * receivers can drop duplicates (a receiver that answered too slowly gets the batch again).
 */
export class WebhookNotifier {
  private readonly endpoints: EndpointQueue[];

  constructor(configs: readonly NotificationEndpointConfig[], options: WebhookOptions) {
    this.endpoints = configs.map((c) => new EndpointQueue(c, options));
  }

  get enabled(): boolean {
    return this.endpoints.length > 0;
  }

  /** The event bus listener: only enqueues. */
  handle(event: BerthEvent): void {
    if (!this.endpoints.length) return;
    const payload = toNotificationEvent(event, this.endpoints[0].source);
    if (!payload) return;
    for (const endpoint of this.endpoints) endpoint.offer(payload);
  }

  /** Gives queued and in-flight deliveries up to `drainMs` to finish, then stops (what is left is logged). */
  async close(drainMs = 5000): Promise<void> {
    await Promise.all(this.endpoints.map((e) => e.close(drainMs)));
  }
}

export class EndpointQueue {
  readonly source: EnvelopeSource;
  private readonly queue: NotificationEvent[] = [];
  private running: Promise<void> | null = null;
  private closing = false;
  private readonly abort = new AbortController();
  private readonly patterns: WholeMatch[];
  private readonly fetch: typeof fetch;
  private readonly logger: Logger;
  private readonly metrics?: {
    deliveries: import("prom-client").Counter<"endpoint" | "outcome">;
    queued: import("prom-client").Gauge<"endpoint">;
    dropped: import("prom-client").Counter<"endpoint" | "reason">;
  };

  constructor(
    private readonly config: NotificationEndpointConfig,
    private readonly options: WebhookOptions,
  ) {
    this.source = options.source;
    this.patterns = config.repositories.map(glob);
    this.fetch = options.fetch ?? fetch;
    this.logger = options.logger.child({ webhook: config.name });
    if (options.metrics) {
      const m = options.metrics;
      this.metrics = {
        deliveries: m.counter("notification_attempts_total", "Webhook delivery attempts, by endpoint and outcome (success, retry, failure)", ["endpoint", "outcome"]),
        queued: m.gauge("notification_queue_length", "Events waiting for delivery, by endpoint", ["endpoint"]),
        dropped: m.counter("notification_events_dropped_total", "Events never delivered, by endpoint and reason (queue_full, failed, shutdown)", ["endpoint", "reason"]),
      };
      this.metrics.queued.set({ endpoint: config.name }, 0);
    }
  }

  offer(event: NotificationEvent): void {
    if (this.closing || !this.wants(event)) return;
    if (this.queue.length >= this.options.queueSize) {
      this.metrics?.dropped.inc({ endpoint: this.config.name, reason: "queue_full" });
      this.logger.warn({ event: event.id }, "webhook queue full; event dropped");
      return;
    }
    this.queue.push(event);
    this.metrics?.queued.set({ endpoint: this.config.name }, this.queue.length);
    this.running ??= this.run().finally(() => (this.running = null));
  }

  async close(drainMs: number): Promise<void> {
    this.closing = true;
    if (this.running) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.running, new Promise((resolve) => (timer = setTimeout(resolve, drainMs)))]);
      clearTimeout(timer);
    }
    this.abort.abort();
    await this.running;
    if (this.queue.length) {
      this.metrics?.dropped.inc({ endpoint: this.config.name, reason: "shutdown" }, this.queue.length);
      this.logger.warn({ events: this.queue.length }, "shutting down with undelivered webhook events");
      this.queue.length = 0;
    }
  }

  private wants(event: NotificationEvent): boolean {
    if (!this.config.actions.includes(event.action as NotificationAction)) return false;
    return !this.patterns.length || this.patterns.some((p) => p.test(event.target.repository));
  }

  private async run(): Promise<void> {
    while (this.queue.length && !this.abort.signal.aborted) {
      const batch = this.queue.splice(0, MAX_BATCH);
      this.metrics?.queued.set({ endpoint: this.config.name }, this.queue.length);
      const delivered = await this.deliver(batch);
      if (!delivered && !this.abort.signal.aborted) {
        this.metrics?.dropped.inc({ endpoint: this.config.name, reason: "failed" }, batch.length);
      } else if (!delivered) {
        this.queue.unshift(...batch); // counted as dropped at shutdown
      }
    }
  }

  /** One delivery of `events` now, outside the queue, in at most `maxAttempts` attempts (the send-test button). */
  async sendNow(events: NotificationEvent[], maxAttempts: number): Promise<DeliveryAttempt> {
    let outcome: DeliveryAttempt | undefined;
    await this.deliver(events, maxAttempts, (attempt) => (outcome = attempt));
    return outcome!;
  }

  private async deliver(events: NotificationEvent[], maxAttempts = this.config.maxAttempts, observe?: (attempt: DeliveryAttempt) => void): Promise<boolean> {
    const body = JSON.stringify({ events });
    const delivery = randomUUID();
    const headers: Record<string, string> = {
      ...this.config.headers,
      "Content-Type": ENVELOPE_MEDIA_TYPE,
      "User-Agent": "Berth-Webhook/1",
      "X-Berth-Delivery": delivery,
      ...(this.config.secret ? { [SIGNATURE_HEADER]: signBody(this.config.secret, body) } : {}),
    };
    const event = [...new Set(events.map((e) => e.action))].join(",");
    const report = async (at: Date, httpStatus: number | null, error: string | null) => {
      const attempt = { at, event, success: error === null, httpStatus, durationMs: Date.now() - at.getTime(), error };
      observe?.(attempt);
      await this.options.onAttempt?.(attempt);
    };
    let wait = this.config.backoffSeconds * 1000;
    for (let attempt = 1; ; attempt++) {
      let problem: string;
      const at = new Date();
      try {
        const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.config.timeoutSeconds * 1000)]);
        const res = await this.fetch(this.config.url, { method: "POST", headers, body, signal, redirect: "error" });
        await res.body?.cancel().catch(() => undefined);
        await report(at, res.status, res.ok ? null : `HTTP ${res.status}`);
        if (res.ok) {
          this.metrics?.deliveries.inc({ endpoint: this.config.name, outcome: "success" });
          this.logger.debug({ delivery, events: events.length, attempt }, "webhook delivered");
          return true;
        }
        problem = `HTTP ${res.status}`;
      } catch (err) {
        problem = failureOf(err);
        await report(at, null, problem);
      }
      if (this.abort.signal.aborted) return false;
      const last = attempt >= maxAttempts;
      this.metrics?.deliveries.inc({ endpoint: this.config.name, outcome: last ? "failure" : "retry" });
      if (last) {
        this.logger.error({ delivery, events: events.length, attempts: attempt, problem }, "webhook delivery failed; events dropped");
        return false;
      }
      this.logger.warn({ delivery, attempt, problem, retryInMs: wait }, "webhook delivery failed; will retry");
      await sleep(wait, this.abort.signal);
      wait = Math.min(wait * 2, this.config.maxBackoffSeconds * 1000);
    }
  }
}

/**
 * fetch's own message is "fetch failed": the cause (a refused destination, ECONNREFUSED, ENOTFOUND) says
 * what happened. Duck-typed: a cause made by node's own modules is not an Error of a test runner's realm.
 */
function failureOf(err: unknown): string {
  const cause = (err as { cause?: { message?: unknown; code?: unknown } } | null)?.cause;
  if (cause && typeof cause === "object") {
    if (typeof cause.message === "string" && cause.message) return cause.message;
    if (typeof cause.code === "string") return cause.code;
  }
  return (err as Error)?.message ?? String(err);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
