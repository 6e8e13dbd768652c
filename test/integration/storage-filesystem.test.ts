import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { FilesystemDriver } from "../../src/storage/filesystem";
import { describeStorageDriver } from "../support/storage-driver-suite";

describeStorageDriver("filesystem", async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), "berth-fs-"));
  return {
    driver: new FilesystemDriver({ root }),
    reopen: () => new FilesystemDriver({ root, fsync: false }),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});
