// One behavioural suite every StorageDriver passes (filesystem and S3): what the layers above rely on.
import { randomBytes } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { PathNotFoundError, sendReadable, type StorageDriver } from "../../src/storage/driver";

export interface DriverFixture {
  driver: StorageDriver;
  /** A second, independent driver instance on the same store (another replica, or the process after a restart). */
  reopen(): StorageDriver;
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;

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

/** Sends `first` (in 1 MiB pieces), then fails like a client that went away. */
function failingStream(first: Buffer): Readable {
  const pieces: Buffer[] = [];
  for (let i = 0; i < first.length; i += MiB) pieces.push(first.subarray(i, i + MiB));
  return new Readable({
    read() {
      const next = pieces.shift();
      if (next) this.push(next);
      else this.destroy(new Error("client went away"));
    },
  });
}

/** A round trip through JSON, as the state takes through the upload's database row. */
function viaJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
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

    it("sends whole content and ranges to a destination, and stops when the destination goes away", async () => {
      const data = randomBytes(3 * 1024 * 1024 + 123); // several of the filesystem driver's 1 MiB turns
      await driver.putContent("send/data", data);
      const sendAll = async (range?: { start: number; end?: number }) => {
        const chunks: Buffer[] = [];
        const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (chunks.push(Buffer.from(chunk)), done()) });
        await sendReadable(await driver.reader("send/data", range), sink);
        return Buffer.concat(chunks);
      };
      expect((await sendAll()).equals(data)).toBe(true);
      expect((await sendAll({ start: 1_048_570, end: 2_097_160 })).equals(data.subarray(1_048_570, 2_097_161))).toBe(true);
      expect((await sendAll({ start: 3 * 1024 * 1024 })).equals(data.subarray(3 * 1024 * 1024))).toBe(true);

      let written = 0;
      const gone = new Writable({
        write(chunk: Buffer, _enc, done) {
          written += chunk.length;
          if (written > 1024 * 1024) this.destroy(new Error("client went away"));
          done();
        },
      });
      await expect(sendReadable(await driver.reader("send/data"), gone)).rejects.toThrow();
    });

    it("sends many files at once and one after another, each intact (read buffers are shared between sends)", async () => {
      const files = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const data = randomBytes(1024 * 1024 + i * 4099);
          await driver.putContent(`send/many/${i}`, data);
          return data;
        }),
      );
      const send = async (i: number, range?: { start: number; end: number }) => {
        const chunks: Buffer[] = [];
        // A slow destination keeps its send's buffers busy while the others run.
        const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (chunks.push(Buffer.from(chunk)), setTimeout(done, 2)) });
        await sendReadable(await driver.reader(`send/many/${i}`, range), sink);
        return Buffer.concat(chunks);
      };
      for (let round = 0; round < 2; round++) {
        const sent = await Promise.all(files.map((_, i) => send(i)));
        sent.forEach((bytes, i) => expect(bytes.equals(files[i]!)).toBe(true));
        const ranges = await Promise.all(files.map((_, i) => send(i, { start: 1000 + i, end: 1_049_000 + i })));
        ranges.forEach((bytes, i) => expect(bytes.equals(files[i]!.subarray(1000 + i, 1_049_001 + i))).toBe(true));
      }
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

    it("reads an unfinished file back with its writer's state, from another driver instance too", async () => {
      const a = randomBytes(3000);
      const b = randomBytes(9000);
      let writer = await driver.writer("inprog/data");
      await writer.append(Readable.from([a]));
      let state = viaJson(await writer.suspend());
      const other = fixture.reopen();
      expect(await readAll(await other.reader("inprog/data", { start: 0, end: 2999 }, state))).toEqual(a);
      writer = await other.writer("inprog/data", state);
      await writer.append(Readable.from([b]));
      state = viaJson(await writer.suspend());
      const both = Buffer.concat([a, b]);
      expect(await readAll(await driver.reader("inprog/data", { start: 0, end: both.length - 1 }, state))).toEqual(both);
      expect(await readAll(await driver.reader("inprog/data", { start: 2990, end: 3009 }, state))).toEqual(both.subarray(2990, 3010));
      expect(await readAll(await driver.reader("inprog/data", { start: 0, end: 0 }, state))).toEqual(both.subarray(0, 1));
    });

    it("reads what a writer that is still appending has checkpointed, from another driver instance", async () => {
      const small = randomBytes(3000);
      const large = randomBytes(6 * MiB); // after `small`: S3 merges the small trailing segment into a new one
      const writer = await driver.writer("growing/data");
      await writer.append(Readable.from([small]));
      const first = viaJson(writer.checkpoint());
      expect(first.size).toBe(3000);
      const other = fixture.reopen();
      expect(await readAll(await other.reader("growing/data", undefined, first))).toEqual(small);
      await writer.append(Readable.from([large]));
      const second = viaJson(writer.checkpoint());
      // The older checkpoint still reads exactly its bytes while the writer goes on.
      expect(await readAll(await other.reader("growing/data", undefined, first))).toEqual(small);
      const both = Buffer.concat([small, large]);
      expect((await readAll(await other.reader("growing/data", undefined, second))).equals(both)).toBe(true);
      expect(await readAll(await other.reader("growing/data", { start: 2990, end: 3009 }, second))).toEqual(both.subarray(2990, 3010));
      await writer.append(Readable.from([Buffer.from("tail")]));
      await writer.commit("growing/final");
      expect((await driver.getContent("growing/final")).equals(Buffer.concat([both, Buffer.from("tail")]))).toBe(true);
    });

    it("appends chunks of every size (tiny, a few MiB, several parts), readable at each step and whole at the end", async () => {
      const sizes = [1, 1000, 3 * MiB, 100, 11 * MiB, 7, 6 * MiB, 2 * MiB + 5, 17 * MiB + 3, 1];
      const chunks = sizes.map((n) => randomBytes(n));
      let state = null;
      let expected = Buffer.alloc(0);
      for (const [i, chunk] of chunks.entries()) {
        const d = i % 2 === 0 ? driver : fixture.reopen(); // alternate instances, as replicas would
        const writer = await d.writer("sizes/data", state);
        // Deliver the chunk in uneven pieces, the way a socket does.
        const pieces = [];
        for (let at = 0; at < chunk.length; at += 300_000 + i) pieces.push(chunk.subarray(at, at + 300_000 + i));
        expect(await writer.append(Readable.from(pieces))).toBe(chunk.length);
        state = viaJson(await writer.suspend());
        expected = Buffer.concat([expected, chunk]);
        expect(state.size).toBe(expected.length);
        const from = Math.max(0, expected.length - chunk.length - 10);
        // (Buffer.equals: jest's toEqual walks big buffers byte by byte, for minutes.)
        expect((await readAll(await d.reader("sizes/data", { start: from, end: expected.length - 1 }, state))).equals(expected.subarray(from))).toBe(true);
      }
      const whole = await readAll(await driver.reader("sizes/data", { start: 0, end: expected.length - 1 }, state));
      expect(whole.equals(expected)).toBe(true);
      const writer = await fixture.reopen().writer("sizes/data", state);
      await writer.commit();
      expect((await driver.stat("sizes/data")).size).toBe(expected.length);
      expect((await driver.getContent("sizes/data")).equals(expected)).toBe(true);
      const mid = 20 * MiB;
      expect(await readAll(await driver.reader("sizes/data", { start: mid, end: mid + 99 }))).toEqual(expected.subarray(mid, mid + 100));
    });

    it("keeps the state when a large append fails part-way, and continues from it", async () => {
      const first = randomBytes(2 * MiB);
      const writer = await driver.writer("bigfail/data");
      await writer.append(Readable.from([first]));
      await expect(writer.append(failingStream(randomBytes(19 * MiB)))).rejects.toThrow("client went away");
      expect(writer.size).toBe(2 * MiB);
      const state = viaJson(await writer.suspend());
      const rest = randomBytes(9 * MiB);
      const resumed = await fixture.reopen().writer("bigfail/data", state);
      await resumed.append(Readable.from([rest]));
      await resumed.commit();
      expect((await driver.getContent("bigfail/data")).equals(Buffer.concat([first, rest]))).toBe(true);
    });

    it("commits into another path, replacing what is there and leaving nothing at its own", async () => {
      await driver.putContent("final/target", Buffer.from("old content"));
      const data = randomBytes(12 * MiB);
      let writer = await driver.writer("ct/data");
      await writer.append(Readable.from([data.subarray(0, 1000)]));
      writer = await fixture.reopen().writer("ct/data", viaJson(await writer.suspend()));
      await writer.append(Readable.from([data.subarray(1000)]));
      await writer.commit("final/target");
      expect((await driver.getContent("final/target")).equals(data)).toBe(true);
      await expect(driver.stat("ct/data")).rejects.toBeInstanceOf(PathNotFoundError);
    });

    it("commits an empty file, and reads ranges past the end as nothing", async () => {
      const writer = await driver.writer("empty/data");
      expect(await writer.append(Readable.from([]))).toBe(0);
      await writer.commit();
      expect((await driver.stat("empty/data")).size).toBe(0);
      expect((await driver.getContent("empty/data")).length).toBe(0);
      await driver.putContent("short", Buffer.from("abc"));
      expect((await readAll(await driver.reader("short", { start: 3 }))).length).toBe(0);
      expect((await readAll(await driver.reader("short", { start: 1, end: 10 }))).toString()).toBe("bc");
    });

    it("moves a large file and deletes a prefix without touching its neighbours", async () => {
      const data = randomBytes(13 * MiB);
      await driver.putContent("mv/big", data);
      await driver.putContent("mv/bigger", Buffer.from("neighbour"));
      await driver.move("mv/big", "mv2/big");
      expect((await driver.getContent("mv2/big")).equals(data)).toBe(true);
      await driver.delete("mv");
      expect(await collect(driver.list("mv"))).toEqual([]);
      await driver.putContent("pre/a", Buffer.from("1"));
      await driver.putContent("pre/ab", Buffer.from("2"));
      await driver.delete("pre/a");
      expect(await collect(driver.list("pre"))).toEqual(["pre/ab"]);
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
