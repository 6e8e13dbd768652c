// The S3 driver against a real S3-compatible server (s3rver on 127.0.0.1, in a child process): the shared
// driver contract, then what only S3 has to get right — S3's multipart rules (which s3rver does not
// enforce, so we check them on the wire), races between replicas, presigned redirects, and failures.
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { PathNotFoundError, StorageUnavailableError } from "../../src/storage/driver";
import { S3Driver } from "../../src/storage/s3";
import { MIN_PART_SIZE } from "../../src/storage/s3-multipart";
import { describeStorageDriver } from "../support/storage-driver-suite";
import { startS3Server, type S3TestServer } from "../support/s3-server";

const MiB = 1024 * 1024;
let s3: S3TestServer;

beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(() => s3?.close());

/** Every command a driver sends (through a client middleware), to check S3's part rules that s3rver does not. */
class Recorder {
  commands: Array<{ name: string; input: Record<string, unknown> }> = [];
  /** UploadId → sizes of the parts sent with UploadPart. */
  partSizes(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const { name, input } of this.commands) {
      if (name !== "UploadPartCommand") continue;
      const sizes = out.get(input.UploadId as string) ?? [];
      sizes[(input.PartNumber as number) - 1] = input.ContentLength as number;
      out.set(input.UploadId as string, sizes);
    }
    return out;
  }
}

function recordingDriver(extra: Record<string, unknown> = {}): { driver: S3Driver; client: Recorder } {
  const driver = new S3Driver(s3.driverOptions(extra));
  const client = new Recorder();
  driver.client.middlewareStack.add(
    (next, context) => async (args) => {
      client.commands.push({ name: context.commandName as string, input: args.input as Record<string, unknown> });
      return next(args);
    },
    { step: "initialize" },
  );
  return { driver, client };
}

function expectValidParts(client: Recorder): void {
  for (const [uploadId, sizes] of client.partSizes()) {
    const notLast = sizes.slice(0, -1);
    expect({ uploadId, small: notLast.filter((n) => n < MIN_PART_SIZE) }).toEqual({ uploadId, small: [] });
    expect(sizes.every((n) => n > 0)).toBe(true);
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

// Each fixture gets its own key prefix in the one bucket; its clients check S3's part rules when it ends.
let recorders: Recorder[] = [];
describeStorageDriver("s3 (s3rver)", async () => {
  const prefix = `suite-${randomBytes(4).toString("hex")}`;
  recorders = [];
  const make = () => {
    const { driver, client } = recordingDriver({ prefix });
    recorders.push(client);
    return driver;
  };
  return {
    driver: make(),
    reopen: make,
    cleanup: async () => recorders.forEach(expectValidParts),
  };
});

describe("S3 driver specifics", () => {
  it("keeps each append as its own immutable segment: a state that lost a race still reads its own bytes", async () => {
    const driver = s3.driver();
    const w = await driver.writer("race/data");
    await w.append(Readable.from([Buffer.from("common-")]));
    const base = await w.suspend();
    // Two replicas continue from the same state at once; the database keeps only one of them.
    const [a, b] = await Promise.all(
      ["winner", "loser!"].map(async (text) => {
        const writer = await driver.writer("race/data", base);
        await writer.append(Readable.from([Buffer.from(text)]));
        return writer.suspend();
      }),
    );
    expect((await readAll(await driver.reader("race/data", { start: 0, end: a.size - 1 }, a))).toString()).toBe("common-winner");
    expect((await readAll(await driver.reader("race/data", { start: 0, end: b.size - 1 }, b))).toString()).toBe("common-loser!");
    await (await driver.writer("race/data", a)).commit("race/final");
    expect((await driver.getContent("race/final")).toString()).toBe("common-winner");
  });

  it("streams long appends in parts of partSize and merges small trailing segments (within S3's part rules)", async () => {
    const { driver, client } = recordingDriver({ partSize: 5 * MiB });
    const data = randomBytes(23 * MiB + 17);
    let state = null;
    const cuts = [0, 100, 4 * MiB, 4 * MiB + 1, 15 * MiB, data.length];
    for (let i = 1; i < cuts.length; i++) {
      const writer = await driver.writer("parts/data", state);
      await writer.append(Readable.from([data.subarray(cuts[i - 1], cuts[i])]));
      state = await writer.suspend();
    }
    expect((state as unknown as { segments: unknown[] }).segments.length).toBeLessThanOrEqual(3);
    await (await driver.writer("parts/data", state)).commit("parts/final");
    expect((await driver.getContent("parts/final")).equals(data)).toBe(true);
    expectValidParts(client);
    expect(await collectKeys(driver, "parts")).toEqual(["parts/final"]);
  });

  it("copies above maxPartSize as a multipart copy (streamed through when the store lacks UploadPartCopy)", async () => {
    const { driver, client } = recordingDriver({ maxPartSize: 10 * MiB });
    const data = randomBytes(26 * MiB);
    await driver.putContent("bigmove/src", data);
    await driver.move("bigmove/src", "bigmove/dst");
    expect((await driver.getContent("bigmove/dst")).equals(data)).toBe(true);
    await expect(driver.stat("bigmove/src")).rejects.toBeInstanceOf(PathNotFoundError);
    const names = client.commands.map((c) => c.name);
    expect(names).toContain("CreateMultipartUploadCommand");
    expect(names).toContain("UploadPartCopyCommand"); // tried first; s3rver answers 501
    expect(client.partSizes().size).toBe(1);
    expectValidParts(client);
  });

  it("lists more than one page of keys", async () => {
    const driver = s3.driver();
    const keys = Array.from({ length: 1005 }, (_, i) => `many/${String(i).padStart(4, "0")}`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => driver.putContent(k, Buffer.from("x"))));
    expect(await collectKeys(driver, "many")).toEqual(keys);
    await driver.delete("many");
    expect(await collectKeys(driver, "many")).toEqual([]);
  });

  it("presigns GET URLs in redirect mode only", async () => {
    const plain = s3.driver();
    const redirecting = s3.driver({ redirect: true, redirectExpiresSeconds: 60 });
    const data = randomBytes(100_000);
    await redirecting.putContent("blobs/x", data);
    expect(await plain.redirectUrl("blobs/x")).toBeNull();
    const url = await redirecting.redirectUrl("blobs/x");
    expect(url).toMatch(/X-Amz-Signature=/);
    const res = await fetch(url!);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
  });

  it("reports an unreachable store as StorageUnavailableError and recovers when it is back", async () => {
    const driver = s3.driver();
    await driver.putContent("down/x", Buffer.from("still here"));
    const w = await driver.writer("down/up");
    await w.append(Readable.from([Buffer.from("before")]));
    const state = await w.suspend();
    await s3.kill();
    try {
      await expect(driver.stat("down/x")).rejects.toBeInstanceOf(StorageUnavailableError);
      await expect(driver.reader("down/x")).rejects.toBeInstanceOf(StorageUnavailableError);
      await expect(driver.putContent("down/y", Buffer.from("y"))).rejects.toBeInstanceOf(StorageUnavailableError);
      const writer = await driver.writer("down/up", state);
      await expect(writer.append(Readable.from([Buffer.from("during")]))).rejects.toBeInstanceOf(StorageUnavailableError);
      expect(writer.size).toBe(6);
    } finally {
      await s3.start();
    }
    const writer = await driver.writer("down/up", state);
    await writer.append(Readable.from([Buffer.from("-after")]));
    await writer.commit();
    expect((await driver.getContent("down/up")).toString()).toBe("before-after");
    expect((await driver.getContent("down/x")).toString()).toBe("still here");
  });

  it("fails a read cut off mid-stream instead of ending it quietly", async () => {
    const driver = s3.driver();
    await driver.putContent("cut/x", randomBytes(40 * MiB));
    const stream = await driver.reader("cut/x");
    let received = 0;
    const done = (async () => {
      for await (const chunk of stream) {
        received += (chunk as Buffer).length;
        if (received > MiB && s3.running) await s3.kill();
      }
    })();
    await expect(done).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(received).toBeLessThan(40 * MiB);
    await s3.start();
  });

  it("tells a missing bucket apart from a missing file", async () => {
    // (A HEAD answers 404 without a body either way; a GET says NoSuchBucket.)
    const driver = s3.driver({ bucket: "no-such-bucket" });
    const err = await driver.getContent("x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(PathNotFoundError);
  });
});

async function collectKeys(driver: S3Driver, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const key of driver.list(prefix)) out.push(key);
  return out.sort();
}
