import pino, { type Logger } from "pino";
import type { Config } from "./config";
import { openDatabase, type Database } from "./metadata/database";
import { PrismaMetadataStore } from "./metadata/prisma-store";
import type { MetadataStore } from "./metadata/store";
import type { RegistryServices } from "./oci/routes";
import { BlobService } from "./registry/blob-service";
import { ManifestService } from "./registry/manifest-service";
import { UploadService } from "./registry/upload-service";
import type { StorageDriver } from "./storage/driver";
import { createStorageDriver } from "./storage/factory";
import { AuditLog } from "./audit/audit-log";
import { createAuth, type AuthComponents } from "./auth";
import { AccountStore } from "./auth/account-store";
import { createMirror, type Mirror } from "./proxy";
import type { GcService } from "./admin/gc-api";

/** The composition root: every long-lived object is made here and nowhere else. */
export interface Deps {
  config: Config;
  logger: Logger;
  database: Database;
  storage: StorageDriver;
  store: MetadataStore;
  services: RegistryServices;
  auth: AuthComponents;
  audit: AuditLog;
  /** Null unless mirror upstreams are configured. */
  mirror: Mirror | null;
  /** The garbage collector as the admin API and web UI use it; absent until it is wired here. */
  gc?: GcService | null;
  close(): Promise<void>;
}

export async function createDeps(config: Config, logger: Logger = createLogger(config)): Promise<Deps> {
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  const storage = createStorageDriver(config);
  const store = new PrismaMetadataStore(database.prisma);
  const blobs = new BlobService(store, storage);
  const manifests = new ManifestService(store);
  const accountStore = new AccountStore(database.prisma);
  const mirror = createMirror(config, {
    prisma: database.prisma,
    storage,
    store,
    blobs,
    manifests,
    logger,
    isLocalProject: async (project) => (await accountStore.findProject(project)) !== null,
  });
  const services: RegistryServices = {
    uploads: new UploadService(store, storage),
    blobs: mirror?.blobs ?? blobs,
    manifests: mirror?.manifests ?? manifests,
  };
  const audit = new AuditLog(database.prisma, logger);
  try {
    const auth = await createAuth(config, accountStore, audit, logger, {
      isMirrored: mirror && config.mirror.anonymousPull ? async (repository) => (await mirror.routing.route(repository as never)) !== null : undefined,
    });
    const close = async () => {
      await audit.close();
      await mirror?.close();
      await database.close();
    };
    return { config, logger, database, storage, store, services, auth, audit, mirror, close };
  } catch (err) {
    await audit.close();
    await mirror?.close();
    await database.close();
    throw err;
  }
}

export function createLogger(config: Pick<Config, "logLevel">): Logger {
  return pino({ level: config.logLevel, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}
