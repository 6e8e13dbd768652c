import pino, { type Logger } from "pino";
import type { Config } from "./config";
import { touchIntervalFor } from "./gc/collector";
import { GcService } from "./gc/gc-service";
import { openDatabase, type Database } from "./metadata/database";
import { PrismaMetadataStore } from "./metadata/prisma-store";
import type { MetadataStore } from "./metadata/store";
import type { RegistryServices } from "./oci/routes";
import { BlobService } from "./registry/blob-service";
import { ManifestService } from "./registry/manifest-service";
import { UploadService } from "./registry/upload-service";
import type { StorageDriver } from "./storage/driver";
import { createStorageDriver } from "./storage/factory";

/** The composition root: every long-lived object is made here and nowhere else. */
export interface Deps {
  config: Config;
  logger: Logger;
  database: Database;
  storage: StorageDriver;
  store: MetadataStore;
  services: RegistryServices;
  /** Garbage collection, retention and storage usage (CLI, schedule, admin API). */
  gc: GcService;
  close(): Promise<void>;
}

export async function createDeps(config: Config, logger: Logger = createLogger(config)): Promise<Deps> {
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  const storage = createStorageDriver(config);
  const store = new PrismaMetadataStore(database.prisma);
  const gc = new GcService({ database, storage, config, logger });
  const services: RegistryServices = {
    uploads: new UploadService(store, storage),
    blobs: new BlobService(store, storage, { touchIfIdleMs: touchIntervalFor(config.gc.grace) }),
    manifests: new ManifestService(store, gc.immutableTags.empty ? null : gc.immutableTags),
  };
  const close = async () => {
    await gc.close(); // interrupts a collection in progress at its next batch, before the database goes
    await database.close();
  };
  return { config, logger, database, storage, store, services, gc, close };
}

export function createLogger(config: Pick<Config, "logLevel">): Logger {
  return pino({ level: config.logLevel, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}
