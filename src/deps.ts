import pino, { type Logger } from "pino";
import type { Config } from "./config";
import type { Clock } from "./kernel/clock";
import { touchIntervalFor } from "./gc/collector";
import { GcService } from "./gc/gc-service";
import { AccessSettings } from "./auth/auth-settings";
import { LiveSettings } from "./metadata/live-settings";
import { openDatabase, type Database } from "./metadata/database";
import { SqlMetadataStore } from "./metadata/sql-store";
import { createStores, type Stores } from "./metadata/stores";
import { foldRepositoryFiguresEvery } from "./metadata/repository-figures";
import { maintainEmbeddedDatabase } from "./metadata/embedded-maintenance";
import { ContentCache } from "./metadata/content-cache";
import { CredentialStates } from "./metadata/credential-states";
import type { MetadataStore } from "./metadata/store";
import type { RegistryServices } from "./oci/routes";
import { BlobService } from "./registry/blob-service";
import { ManifestService } from "./registry/manifest-service";
import { UploadService } from "./registry/upload-service";
import type { StorageDriver } from "./storage/driver";
import { createStorageDriver } from "./storage/factory";
import { AuditLog } from "./audit/audit-log";
import { createAuth, type AuthComponents } from "./auth";
import { createMirror, type Mirror } from "./proxy";
import { EventBus } from "./events/event-bus";
import { createOps, instrumentStorage, Metrics, type Ops } from "./ops";
import { logDestination } from "./ops/log-output";

/** How soon a rule changed on one replica applies on the others. */
const RULES_RELOAD_MS = 5_000;

/** The composition root: every long-lived object is made here and nowhere else. */
export interface Deps {
  config: Config;
  logger: Logger;
  database: Database;
  storage: StorageDriver;
  store: MetadataStore;
  /** The other stores of the metadata database (accounts, audit, web queries…). */
  stores: Stores;
  services: RegistryServices;
  auth: AuthComponents;
  /** The audit log: a subscriber of `events`, read through its query(). */
  audit: AuditLog;
  /** Null unless mirror upstreams are configured. */
  mirror: Mirror | null;
  /** Project creation, default visibility and token lifetime: the Settings page's, live on every replica. */
  access: AccessSettings;
  /** Garbage collection, retention and storage usage (CLI, schedule, admin API). */
  gc: GcService;
  /** Where every action is recorded (src/events/vocabulary.ts): the audit log and webhooks subscribe. */
  events: EventBus;
  /** Prometheus metrics; other modules register theirs here (see src/metrics/metrics.ts). */
  metrics: Metrics;
  /** Health, per-request guards (limits, rate limit, trusted proxies), webhooks. */
  ops: Ops;
  contentCache: ContentCache;
  close(): Promise<void>;
}

/** Settings are re-read this often even when the database's announcements cannot be heard. */
const SETTINGS_REFRESH_MS = 30_000;

export interface DepsOptions {
  /** What TTLs are measured against (default: the system clock); tests move it instead of sleeping. */
  clock?: Clock;
}

export async function createDeps(config: Config, logger: Logger = createLogger(config), options: DepsOptions = {}): Promise<Deps> {
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  const metrics = new Metrics();
  const storage = instrumentStorage(createStorageDriver(config, logger), metrics);
  const contentCache = await ContentCache.listening(database);
  const store = new SqlMetadataStore(database, contentCache.cache);
  const figures = foldRepositoryFiguresEvery(database, 10_000, logger);
  const maintenance = database.kind === "embedded" ? maintainEmbeddedDatabase(database, logger) : null;
  const stores = createStores(database, { defaultProjectQuotaBytes: config.projects.defaultQuota });
  const credentialStates = await CredentialStates.listening(database, stores.accounts);
  const { events, audit } = auditedEvents(stores, logger, metrics);
  const settings = await LiveSettings.start(database, stores.settings, {
    refreshMs: SETTINGS_REFRESH_MS,
    onError: (err) => logger.warn({ err }, "reading the stored settings failed"),
  });
  const gc = new GcService({
    stores,
    settings,
    storage,
    config,
    logger,
    events,
    onRunFinished: (report) => {
      metrics.gc.runFinished({
        dryRun: report.dryRun,
        durationSeconds: report.durationMs / 1000,
        manifestsDeleted: report.totals.manifests,
        blobsDeleted: report.totals.blobs,
        bytesFreed: report.totals.bytesFreed,
        error: report.status === "failed" ? report.errors : undefined,
      });
      if (mirror && !report.dryRun) {
        mirror.stats.evictedImages += report.totals.evictedImages;
        mirror.stats.evictedBytes += report.totals.evictedBytes;
      }
    },
  });
  const access = new AccessSettings(config.auth, settings);
  const blobs = new BlobService(store, storage, { touchIfIdleMs: () => touchIntervalFor(gc.settings.grace), immutability: gc.rules });
  const manifests = new ManifestService(store, gc.rules);
  const accountStore = stores.accounts;
  const mirror = createMirror(config, {
    mirrorStore: stores.mirror,
    storage,
    store,
    blobs,
    manifests,
    logger,
    isLocalProject: async (project) => (await accountStore.findProject(project))?.implicit === false,
    onCached: (bytes) => gc.mirrorCacheGrew(bytes),
    clock: options.clock,
  });
  const services: RegistryServices = {
    uploads: new UploadService(store, storage),
    blobs: mirror?.blobs ?? blobs,
    manifests: mirror?.manifests ?? manifests,
  };
  const ops = createOps(config, { metrics, logger, database: stores.ops, webhookStore: stores.webhooks, storage, events, mirror });
  const release = async () => {
    await gc.close(); // interrupts a collection in progress at its next batch, before the database goes
    await ops.close();
    await audit.close();
    await mirror?.close();
    await figures.close();
    await maintenance?.close();
    await contentCache.close();
    await credentialStates.close();
    await settings.close();
    await database.close();
  };
  try {
    await gc.rules.watch(RULES_RELOAD_MS);
    const auth = await createAuth(config, stores, credentialStates.states, events, logger, access, {
      isMirrored: mirror ? (repository) => mirror.routing.isMirrored(repository) : undefined,
      anonymousMirrorPull: config.mirror.anonymousPull,
    });
    return { config, logger, database, storage, store, stores, services, auth, audit, mirror, gc, access, events, metrics, ops, contentCache: contentCache.cache, close: release };
  } catch (err) {
    await release();
    throw err;
  }
}

/** The event bus with the audit log subscribed: what the server and every acting CLI command record on. */
export function auditedEvents(stores: Pick<Stores, "audit">, logger: Logger, metrics?: Metrics): { events: EventBus; audit: AuditLog } {
  const failures = metrics?.counter("audit_write_failures_total", "Audit events the database refused to store, even written alone");
  const dropped = metrics?.counter("audit_events_dropped_total", "Audit events given up while the database could not be written to (queue full, or shutdown)");
  const audit = new AuditLog(stores.audit, logger, { writeFailed: failures && (() => failures.inc()), dropped: dropped && ((n) => dropped.inc(n)) });
  const events = new EventBus(logger);
  events.subscribe((event) => audit.handle(event));
  return { events, audit };
}

export function createLogger(config: Pick<Config, "logLevel" | "logFormat">): Logger {
  const options = { level: config.logLevel, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  const destination = logDestination(config.logFormat);
  return destination ? pino(options, destination) : pino(options);
}
