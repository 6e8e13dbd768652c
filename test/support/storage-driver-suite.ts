// One behavioural suite every StorageDriver passes (filesystem now, S3 later): what the layers above rely on.
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { PathNotFoundError, type StorageDriver } from "../../src/storage/driver";

export interface DriverFixture {
  driver: StorageDriver;
  cleanup(): Promise<void>;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const item of iterable) out.push(item);
  return out.sort();
}

function failingStream(first: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(first);
      } else {
        this.destroy(new Error("client went away"));
      }
    },
  });
}

export function describeStorageDriver(name: string, makeFixture: () => Promise<DriverFixture>): void {
  describe(`StorageDriver contract: ${name}`, () => {
    let fixture: DriverFixture;
    let driver: StorageDriver;
    beforeEach(async () => {
      fixture = await makeFixture();
      driver = fixture.driver;
    });
    afterEach(() => fixture.cleanup());

    it("puts, gets and stats content", async () => {
      const data = randomBytes(1000);
      await driver.putContent("a/b/c", data);
      expect(await driver.getContent("a/b/c")).toEqual(data);
      expect((await driver.stat("a/b/c")).size).toBe(1000);
    });

    it("replaces content on a second put", async () => {
      await driver.putContent("x", Buffer.from("one"));
      await driver.putContent("x", Buffer.from("second"));
      expect((await driver.getContent("x")).toString()).toBe("second");
    });

    it("reports missing paths with PathNotFoundError", async () => {
      await expect(driver.stat("missing/file")).rejects.toBeInstanceOf(PathNotFoundError);
      await expect(driver.getContent("missing/file")).rejects.toBeInstanceOf(PathNotFoundError);
      await expect(driver.reader("missing/file")).rejects.toBeInstanceOf(PathNotFoundError);
      await expect(driver.move("missing/file", "elsewhere")).rejects.toBeInstanceOf(PathNotFoundError);
    });

    it("reads whole content and inclusive byte ranges", async () => {
      const data = randomBytes(100_000);
      await driver.putContent("r", data);
      expect(await readAll(await driver.reader("r"))).toEqual(data);
      expect(await readAll(await driver.reader("r", { start: 10, end: 19 }))).toEqual(data.subarray(10, 20));
      expect(await readAll(await driver.reader("r", { start: 99_990 }))).toEqual(data.subarray(99_990));
    });

    it("refuses paths that climb out of the store", async () => {
      for (const bad of ["../x", "/abs", "a//b", "a/./b", ""]) {
        await expect(driver.putContent(bad, Buffer.from("x"))).rejects.toThrow(/invalid storage path/);
      }
    });

    it("appends through a writer, suspends and resumes from the saved state", async () => {
      const parts = [randomBytes(5000), randomBytes(7000), randomBytes(3)];
      let writer = await driver.writer("up/data");
      expect(await writer.append(Readable.from([parts[0]]))).toBe(5000);
      let state = await writer.suspend();
      expect(state.size).toBe(5000);
      writer = await driver.writer("up/data", JSON.parse(JSON.stringify(state)));
      await writer.append(Readable.from([parts[1]]));
      await writer.append(Readable.from([parts[2]]));
      expect(writer.size).toBe(12_003);
      state = await writer.suspend();
      writer = await driver.writer("up/data", state);
      await writer.commit();
      expect(await driver.getContent("up/data")).toEqual(Buffer.concat(parts));
    });

    it("keeps a writer consistent when its input fails half-way", async () => {
      const writer = await driver.writer("fail/data");
      await writer.append(Readable.from([Buffer.from("good")]));
      await expect(writer.append(failingStream(Buffer.from("partial")))).rejects.toThrow("client went away");
      expect(writer.size).toBe(4);
      const state = await writer.suspend();
      const resumed = await driver.writer("fail/data", state);
      await resumed.append(Readable.from([Buffer.from("-more")]));
      await resumed.commit();
      expect((await driver.getContent("fail/data")).toString()).toBe("good-more");
    });

    it("cancels a writer and removes what it wrote", async () => {
      const writer = await driver.writer("c/data");
      await writer.append(Readable.from([Buffer.from("abc")]));
      await writer.cancel();
      await expect(driver.stat("c/data")).rejects.toBeInstanceOf(PathNotFoundError);
    });

    it("moves content into place, replacing an existing file", async () => {
      await driver.putContent("src1", Buffer.from("new"));
      await driver.putContent("dst/file", Buffer.from("old"));
      await driver.move("src1", "dst/file");
      expect((await driver.getContent("dst/file")).toString()).toBe("new");
      await expect(driver.stat("src1")).rejects.toBeInstanceOf(PathNotFoundError);
    });

    it("lists files under a prefix and deletes a prefix recursively", async () => {
      await driver.putContent("l/a/1", Buffer.from("1"));
      await driver.putContent("l/a/2", Buffer.from("2"));
      await driver.putContent("l/b/3", Buffer.from("3"));
      await driver.putContent("other/4", Buffer.from("4"));
      expect(await collect(driver.list("l"))).toEqual(["l/a/1", "l/a/2", "l/b/3"]);
      await driver.delete("l/a");
      expect(await collect(driver.list("l"))).toEqual(["l/b/3"]);
      await driver.delete("l/a"); // deleting what is gone is fine
      await driver.delete("other/4");
      expect(await collect(driver.list("other"))).toEqual([]);
      expect(await collect(driver.list("nothing/here"))).toEqual([]);
    });

    it("survives concurrent moves of the same content to one path", async () => {
      const data = randomBytes(50_000);
      await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          const w = await driver.writer(`tmp/${i}/data`);
          await w.append(Readable.from([data]));
          await w.commit();
          await driver.move(`tmp/${i}/data`, "final/blob");
        }),
      );
      expect(await driver.getContent("final/blob")).toEqual(data);
    });
  });
}
