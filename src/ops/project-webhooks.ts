import { randomUUID } from "node:crypto";
import { Agent, fetch as undiciFetch } from "undici";
import type { Logger } from "pino";
import type { NotificationEndpointConfig } from "../config/ops";
import { projectOf } from "../kernel/names";
import type { WebhookRow, WebhookStore } from "../metadata/webhook-store";
import type { Metrics } from "../metrics/metrics";
import { NetworkGuard } from "../proxy/network-guard";
import type { BerthEvent } from "../events/event-bus";
import { toNotificationEvent, type EnvelopeSource, type NotificationEvent } from "../events/notification-envelope";
import { EndpointQueue, type DeliveryAttempt } from "../events/webhooks";

/** Delivery attempts kept per endpoint for the UI; older ones are deleted as new ones are recorded. */
export const DELIVERY_HISTORY = 50;

/** How long a replica trusts its copy of a project's endpoints: changes made on another replica apply after it. */
const CACHE_MS = 3000;

/** Retry policy of project endpoints (the YAML ones set their own). */
const DELIVERY_POLICY = { timeoutSeconds: 5, maxAttempts: 3, backoffSeconds: 1, maxBackoffSeconds: 30 } as const;

export interface ProjectWebhookOptions {
  queueSize: number;
  logger: Logger;
  metrics?: Metrics;
  source: EnvelopeSource;
  /** Let deliveries reach loopback and private addresses (never link-local/metadata ones). */
  allowPrivateNetworks: boolean;
}

/**
 * Webhook endpoints project admins configure in the UI/API (src/metadata/webhook-store.ts): a recorded
 * push, pull or delete in a project goes to the project's enabled endpoints that want its action, through
 * the same per-endpoint queue and delivery code as the YAML endpoints (src/events/webhooks.ts), signed the
 * same way. Their URLs are no operator's word, so every connection goes through a NetworkGuard: loopback,
 * private, link-local (cloud metadata) and other special addresses are refused — checked on the addresses
 * DNS actually gave — unless notifications.allowPrivateNetworks opens loopback and private ones. Every
 * attempt is recorded (time, actions, outcome, HTTP status, duration, error) for the endpoint's history.
 */
export class ProjectWebhooks {
  private readonly dispatcher: Agent;
  private readonly cache = new Map<string, { rows: Promise<WebhookRow[]>; loadedAt: number }>();
  /** One promise chain per project keeps a project's events in the order they happened. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly queues = new Map<number, { queue: EndpointQueue; version: string }>();
  private closing = false;

  constructor(
    private readonly store: WebhookStore,
    private readonly options: ProjectWebhookOptions,
  ) {
    const guard = new NetworkGuard({
      purpose: { label: "a project webhook", privateHint: "an administrator may allow it with notifications.allowPrivateNetworks: true" },
      allowPrivateNetworks: options.allowPrivateNetworks,
    });
    this.dispatcher = new Agent({ connect: guard.connector({}) });
  }

  /** The event bus listener: only enqueues (the project's endpoints are looked up off the request path). */
  handle(event: BerthEvent): void {
    if (this.closing) return;
    const payload = toNotificationEvent(event, this.options.source);
    if (!payload) return;
    const project = projectOf(payload.target.repository);
    const previous = this.chains.get(project) ?? Promise.resolve();
    const next = previous
      .then(async () => {
        for (const row of await this.endpointsOf(project)) this.queueOf(row).offer(payload);
      })
      .catch((err: unknown) => this.options.logger.error({ err, project }, "could not look up the project's webhooks; event not delivered to them"))
      .finally(() => {
        if (this.chains.get(project) === next) this.chains.delete(project);
      });
    this.chains.set(project, next);
  }

  /** Forgets this replica's copy of the project's endpoints after a change made here; a deleted one's queue drains and goes. */
  changed(project: string, deletedId?: number): void {
    this.cache.delete(project);
    const deleted = deletedId === undefined ? undefined : this.queues.get(deletedId);
    if (!deleted) return;
    this.queues.delete(deletedId!);
    void deleted.queue.close(DELIVERY_POLICY.timeoutSeconds * 1000);
  }

  /** Sends a "test" event to the endpoint now, once, and returns the attempt (also kept in its history). */
  async test(row: WebhookRow, actor: string): Promise<DeliveryAttempt> {
    const now = new Date();
    const event: NotificationEvent = {
      id: randomUUID(),
      timestamp: now.toISOString(),
      action: "test",
      target: { repository: row.project },
      request: { id: "", addr: "", host: "", method: "", useragent: "" },
      actor: { name: actor },
      source: this.options.source,
    };
    return this.queueOf(row).sendNow([event], 1);
  }

  async close(drainMs = 5000): Promise<void> {
    this.closing = true;
    await Promise.all([...this.chains.values()]);
    await Promise.all([...this.queues.values()].map(({ queue }) => queue.close(drainMs)));
    await this.dispatcher.close();
  }

  private endpointsOf(project: string): Promise<WebhookRow[]> {
    const cached = this.cache.get(project);
    if (cached && Date.now() - cached.loadedAt < CACHE_MS) return cached.rows;
    const rows = this.store.enabledOf(project);
    this.cache.set(project, { rows, loadedAt: Date.now() });
    rows.catch(() => this.cache.delete(project));
    return rows;
  }

  /** The endpoint's queue; a changed URL, secret or action list gets a new one (the old one drains). */
  private queueOf(row: WebhookRow): EndpointQueue {
    const version = JSON.stringify([row.url, row.secret, row.actions]);
    const existing = this.queues.get(row.id);
    if (existing?.version === version) return existing.queue;
    if (existing) void existing.queue.close(DELIVERY_POLICY.timeoutSeconds * 1000);
    const config: NotificationEndpointConfig = {
      name: `${row.project}#${row.id}`,
      url: row.url,
      ...(row.secret ? { secret: row.secret } : {}),
      headers: {},
      actions: row.actions as NotificationEndpointConfig["actions"],
      repositories: [],
      ...DELIVERY_POLICY,
    };
    const { logger, metrics, source, queueSize } = this.options;
    const queue = new EndpointQueue(config, {
      queueSize,
      logger,
      metrics,
      source,
      fetch: ((url: string, init: RequestInit) => undiciFetch(url, { ...init, dispatcher: this.dispatcher } as never)) as unknown as typeof fetch,
      onAttempt: (attempt) => this.record(row.id, attempt),
    });
    this.queues.set(row.id, { queue, version });
    return queue;
  }

  private async record(id: number, attempt: DeliveryAttempt): Promise<void> {
    await this.store.recordDelivery(id, attempt, DELIVERY_HISTORY).catch((err: unknown) => this.options.logger.warn({ err, webhook: id }, "could not record a webhook delivery"));
  }
}
