import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { Config } from "../config";
import type { EventBus } from "../events/event-bus";
import { WebhookNotifier } from "../events/webhooks";
import { ProjectWebhooks } from "./project-webhooks";
import type { WebhookStore } from "../metadata/webhook-store";
import type { OpsQueries } from "../metadata/ops-queries";
import type { Mirror } from "../proxy";
import type { StorageDriver } from "../storage/driver";
import { Health } from "./health";
import type { Metrics } from "../metrics/metrics";
import { registerMirrorMetrics } from "./mirror-metrics";
import { RequestOps } from "./request-ops";

export { Metrics } from "../metrics/metrics";
export { instrumentStorage } from "./instrumented-storage";

/** The operational side of a running Berth: metrics, health, per-request guards, webhook notifications. */
export interface Ops {
  metrics: Metrics;
  health: Health;
  requests: RequestOps;
  webhooks: WebhookNotifier;
  /** The endpoints project admins configure in the UI/API. */
  projectWebhooks: ProjectWebhooks;
  /** Lets queued webhook deliveries finish (bounded), then stops them. */
  close(): Promise<void>;
}

export function createOps(
  config: Config,
  deps: {
    metrics: Metrics;
    logger: Logger;
    database: OpsQueries;
    webhookStore: WebhookStore;
    storage: StorageDriver;
    events: EventBus;
    mirror: Mirror | null;
  },
): Ops {
  const { metrics, logger, database } = deps;
  const health = Health.forRegistry(deps);
  const requests = new RequestOps(config, metrics, logger);
  const source = { addr: `${hostname()}:${config.listen.slice(config.listen.lastIndexOf(":") + 1)}`, instanceID: randomUUID() };
  const { queueSize, allowPrivateNetworks } = config.notifications;
  const webhooks = new WebhookNotifier(config.notifications.endpoints, { queueSize, logger, metrics, source });
  const projectWebhooks = new ProjectWebhooks(deps.webhookStore, { queueSize, logger, metrics, source, allowPrivateNetworks });
  const unsubscribe = [
    webhooks.enabled ? deps.events.subscribe((e) => webhooks.handle(e)) : () => undefined,
    deps.events.subscribe((e) => projectWebhooks.handle(e)),
  ];
  if (deps.mirror) registerMirrorMetrics(metrics, deps.mirror);

  const sessions = metrics.gauge("upload_sessions", "Upload sessions open in the database (all replicas), as of the last scrape");
  metrics.onCollect(async () => {
    try {
      sessions.set(await database.openUploadSessions());
    } catch (err) {
      metrics.databaseErrors.inc({ source: "scrape" });
      throw err;
    }
  });

  return {
    metrics,
    health,
    requests,
    webhooks,
    projectWebhooks,
    close: async () => {
      for (const stop of unsubscribe) stop();
      await Promise.all([webhooks.close(), projectWebhooks.close()]);
    },
  };
}
