import type { Config } from "../config";
import type { StorageDriver } from "./driver";
import { FilesystemDriver } from "./filesystem";

export function createStorageDriver(config: Config): StorageDriver {
  switch (config.storage.driver) {
    case "fs":
      return new FilesystemDriver({ root: config.storage.root!, fsync: config.storage.fsync });
  }
}
