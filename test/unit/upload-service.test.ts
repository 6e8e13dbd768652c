import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { DomainError } from "../../src/kernel/errors";
import type { RepositoryName } from "../../src/kernel/names";
import type { BlobRecord, UploadRecord } from "../../src/metadata/store";
import type { Digest } from "../../src/kernel/digest";
import { blobPath } from "../../src/registry/paths";
import { UploadService, type UploadStore } from "../../src/registry/upload-service";
import { FilesystemDriver } from "../../src/storage/filesystem";
import type { WriterState } from "../../src/storage/driver";

/** The upload slice of the metadata store, in memory: enough to drive the state machine in isolation. */
class MemoryUploadStore implements UploadStore {
  uploads = new Map<string, UploadRecord>();
  links: Array<{ repository: string; blob: BlobRecord }> = [];

  async createUpload(repository: RepositoryName, id: string): Promise<UploadRecord> {
    const now = new Date();
    const record = { id, repository, offset: 0, driverState: null, startedAt: now, updatedAt: now };
    this.uploads.set(id, record);
    return record;
  }
  async findUpload(repository: RepositoryName, id: string): Promise<UploadRecord | null> {
    const u = this.uploads.get(id);
    return u && u.repository === repository ? { ...u } : null;
  }
  async advanceUpload(id: string, expected: number, next: { offset: number; driverState: WriterState }): Promise<boolean> {
    const u = this.uploads.get(id);
    if (!u || u.offset !== expected) return false;
    this.uploads.set(id, { ...u, offset: next.offset, driverState: next.driverState, updatedAt: new Date() });
    return true;
  }
  async deleteUpload(id: string): Promise<boolean> {
    return this.uploads.delete(id);
  }
  async publishBlob(repository: RepositoryName, blob: BlobRecord, place: () => Promise<void>): Promise<void> {
    await place(); // nothing is recorded when placing the bytes fails
    this.links.push({ repository, blob });
  }
  async publishUpload(repository: RepositoryName, upload: { id: string; offset: number }, blob: BlobRecord, place: () => Promise<void>): Promise<boolean> {
    if (this.uploads.get(upload.id)?.offset !== upload.offset) return false;
    await this.publishBlob(repository, blob, place);
    this.uploads.delete(upload.id);
    return true;
  }
}

const repo = "team/app" as RepositoryName;
const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}` as Digest;
const sha512 = (b: Buffer) => `sha512:${createHash("sha512").update(b).digest("hex")}` as Digest;
const body = (b: Buffer) => Readable.from([b]);

async function codeOf(promise: Promise<unknown>): Promise<DomainError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  throw new Error("expected a DomainError");
}

describe("UploadService state machine", () => {
  let root: string;
  let driver: FilesystemDriver;
  let store: MemoryUploadStore;
  let service: UploadService;

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), "berth-upload-"));
    driver = new FilesystemDriver({ root, fsync: false });
    store = new MemoryUploadStore();
    service = new UploadService(store, driver);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const uploadsLeft = async () => readdir(path.join(root, "uploads")).catch(() => []);

  it("takes chunks in order and publishes the verified blob", async () => {
    const data = randomBytes(30_000);
    const { id } = await service.start(repo);
    expect((await service.append(repo, id, body(data.subarray(0, 10_000)), { start: 0, end: 9_999 })).offset).toBe(10_000);
    expect((await service.append(repo, id, body(data.subarray(10_000, 20_000)), null)).offset).toBe(20_000);
    await service.finish(repo, id, sha256(data), body(data.subarray(20_000)));
    expect(await driver.getContent(blobPath(sha256(data)))).toEqual(data);
    expect(store.links).toEqual([{ repository: repo, blob: { digest: sha256(data), size: 30_000 } }]);
    expect(store.uploads.size).toBe(0);
    expect(await uploadsLeft()).toEqual([]);
  });

  it("refuses a chunk that does not start at the offset, saying where the upload stands", async () => {
    const { id } = await service.start(repo);
    await service.append(repo, id, body(Buffer.from("abc")), { start: 0, end: 2 });
    const err = await codeOf(service.append(repo, id, body(Buffer.from("xyz")), { start: 5, end: 7 }));
    expect(err.code).toBe("RangeInvalid");
    expect(err.upload).toEqual({ id, repository: repo, offset: 3 });
    expect((await service.status(repo, id)).offset).toBe(3);
  });

  it("refuses a chunk whose length contradicts its Content-Range and keeps the old offset", async () => {
    const { id } = await service.start(repo);
    const err = await codeOf(service.append(repo, id, body(Buffer.from("abcd")), { start: 0, end: 9 }));
    expect(err.code).toBe("RangeInvalid");
    expect((await service.status(repo, id)).offset).toBe(0);
    await service.append(repo, id, body(Buffer.from("ok")), { start: 0, end: 1 });
    await service.finish(repo, id, sha256(Buffer.from("ok")), null);
    expect((await driver.getContent(blobPath(sha256(Buffer.from("ok"))))).toString()).toBe("ok");
  });

  it("on a digest mismatch publishes nothing and forgets the upload", async () => {
    const { id } = await service.start(repo);
    await service.append(repo, id, body(Buffer.from("real")), null);
    const wrong = sha256(Buffer.from("other"));
    expect((await codeOf(service.finish(repo, id, wrong, null))).code).toBe("DigestInvalid");
    await expect(driver.stat(blobPath(wrong))).rejects.toThrow();
    await expect(driver.stat(blobPath(sha256(Buffer.from("real"))))).rejects.toThrow();
    expect((await codeOf(service.status(repo, id))).code).toBe("BlobUploadUnknown");
    expect(await uploadsLeft()).toEqual([]);
    expect(store.links).toEqual([]);
  });

  it("continues in a new process (no in-memory hash) by re-hashing what storage holds", async () => {
    const data = randomBytes(50_000);
    const { id } = await service.start(repo);
    await service.append(repo, id, body(data.subarray(0, 25_000)), null);
    const restarted = new UploadService(store, driver);
    await restarted.append(repo, id, body(data.subarray(25_000)), { start: 25_000, end: 49_999 });
    await restarted.finish(repo, id, sha256(data), null);
    expect(await driver.getContent(blobPath(sha256(data)))).toEqual(data);
  });

  it("verifies sha512 digests for chunked and monolithic uploads", async () => {
    const data = randomBytes(4096);
    const { id } = await service.start(repo);
    await service.append(repo, id, body(data), null);
    await service.finish(repo, id, sha512(data), null);
    expect(await driver.getContent(blobPath(sha512(data)))).toEqual(data);
    const other = randomBytes(100);
    await service.uploadWhole(repo, sha512(other), body(other));
    expect(await driver.getContent(blobPath(sha512(other)))).toEqual(other);
  });

  it("keeps the offset when a client hangs up mid-chunk, and the upload still verifies", async () => {
    const { id } = await service.start(repo);
    await service.append(repo, id, body(Buffer.from("first-")), null);
    let sent = false;
    const broken = new Readable({
      read() {
        if (sent) return this.destroy(new Error("socket hang up"));
        sent = true;
        this.push(Buffer.from("garbage"));
      },
    });
    await expect(service.append(repo, id, broken, null)).rejects.toThrow("socket hang up");
    expect((await service.status(repo, id)).offset).toBe(6);
    await service.append(repo, id, body(Buffer.from("second")), { start: 6, end: 11 });
    await service.finish(repo, id, sha256(Buffer.from("first-second")), null);
    expect((await driver.getContent(blobPath(sha256(Buffer.from("first-second"))))).toString()).toBe("first-second");
  });

  it("serialises racing chunks on one upload: the second claiming the same offset is refused", async () => {
    const { id } = await service.start(repo);
    const results = await Promise.allSettled([
      service.append(repo, id, body(Buffer.from("aaaa")), { start: 0, end: 3 }),
      service.append(repo, id, body(Buffer.from("bbbb")), { start: 0, end: 3 }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect((rejected.reason as DomainError).code).toBe("RangeInvalid");
    expect((await service.status(repo, id)).offset).toBe(4);
  });

  it("a final PUT whose upload another process moved on meanwhile publishes nothing", async () => {
    const data = Buffer.from("first-second");
    const { id } = await service.start(repo);
    await service.append(repo, id, body(data.subarray(0, 6)), null);
    // Another replica (no shared in-process lock) records a chunk while this PUT is streaming its last one.
    const last = new Readable({
      read() {
        void store.advanceUpload(id, 6, { offset: 9, driverState: { size: 9 } }).then(() => {
          this.push(data.subarray(6));
          this.push(null);
        });
      },
    });
    expect((await codeOf(service.finish(repo, id, sha256(data), last))).code).toBe("BlobUploadInvalid");
    expect(store.links).toEqual([]);
    expect(store.uploads.get(id)?.offset).toBe(9);
  });

  it("a monolithic upload with the wrong digest leaves nothing behind", async () => {
    const data = Buffer.from("monolith");
    expect((await codeOf(service.uploadWhole(repo, sha256(Buffer.from("x")), body(data)))).code).toBe("DigestInvalid");
    expect(await uploadsLeft()).toEqual([]);
    expect(store.links).toEqual([]);
  });

  it("cancels: the upload and its data are gone", async () => {
    const { id } = await service.start(repo);
    await service.append(repo, id, body(Buffer.from("abc")), null);
    await service.cancel(repo, id);
    expect((await codeOf(service.append(repo, id, body(Buffer.from("x")), null))).code).toBe("BlobUploadUnknown");
    expect(await uploadsLeft()).toEqual([]);
  });

  it("does not let another repository touch the upload", async () => {
    const { id } = await service.start(repo);
    expect((await codeOf(service.status("other/repo" as RepositoryName, id))).code).toBe("BlobUploadUnknown");
  });

  it("publishes an empty blob", async () => {
    const { id } = await service.start(repo);
    await service.finish(repo, id, sha256(Buffer.alloc(0)), null);
    expect((await driver.stat(blobPath(sha256(Buffer.alloc(0))))).size).toBe(0);
  });
});
