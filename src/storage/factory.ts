import type { Logger } from "pino";
import type { Config } from "../config";
import type { StorageDriver } from "./driver";
import { FilesystemDriver } from "./filesystem";
import { S3Driver } from "./s3";

export function createStorageDriver(config: Config, logger?: Logger): StorageDriver {
  switch (config.storage.driver) {
    case "fs":
      return new FilesystemDriver({ root: config.storage.root!, fsync: config.storage.fsync });
    case "s3": {
      const s3 = config.storage.s3!;
      return new S3Driver({
        ...s3,
        bucket: s3.bucket!,
        credentials: s3.accessKeyId ? { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey!, sessionToken: s3.sessionToken } : undefined,
        partSize: s3.partSizeMiB * 1024 * 1024,
        logger,
      });
    }
  }
}
