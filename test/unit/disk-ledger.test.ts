// The ledger of disk room claimed by running imports: what one holds, the others see, so N imports cannot
// each count the same free space; written bytes stop being held twice; a release gives the room back.
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { OciError } from "../../src/http/errors";
import { diskCopies, DiskLedger, freeBytes, ROOM_STEP_BYTES, roomAsUnpacked } from "../../src/web/disk-ledger";

const MiB = 1024 * 1024;

/** A disk whose free space the test sets, shrinking as the test "writes". */
function disk(free: number) {
  const state = { free };
  return { state, free: async () => state.free };
}

async function refusal(p: Promise<unknown>): Promise<OciError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OciError);
  expect((err as OciError).status).toBe(507);
  return err as OciError;
}

test("concurrent claims are checked against each other, not each against the same free space", async () => {
  const d = disk(100 * MiB);
  const ledger = new DiskLedger("/", 10 * MiB, d.free);
  // Started together: only as many as fit 90 MiB get their 40 MiB.
  const claims = await Promise.allSettled([ledger.reserve(40 * MiB), ledger.reserve(40 * MiB), ledger.reserve(40 * MiB)]);
  expect(claims.map((c) => c.status)).toEqual(["fulfilled", "fulfilled", "rejected"]);
  const refused = (claims[2] as PromiseRejectedResult).reason as OciError;
  expect(refused.status).toBe(507);
  expect(refused.message).toMatch(/83886080 held by imports running, 41943040 needed by this one, plus a reserve of 10485760 \(web\.importMinFreeBytes\)/);
  expect(ledger.outstanding()).toBe(80 * MiB);

  // A release, however the import ended, gives the room back (twice is harmless).
  const [a, b] = claims.map((c) => (c.status === "fulfilled" ? c.value : null));
  a!.release();
  a!.release();
  expect(ledger.outstanding()).toBe(40 * MiB);
  (await ledger.reserve(40 * MiB)).release();
  b!.release();
  expect(ledger.outstanding()).toBe(0);
});

test("bytes written are no longer held (the free space shows them), and growing is checked like reserving", async () => {
  const d = disk(100 * MiB);
  const ledger = new DiskLedger("/", 0, d.free);
  const r = await ledger.reserve(60 * MiB);
  // 50 MiB written: the disk now has 50 MiB free, and the ledger holds only the 10 still to come.
  d.state.free -= 50 * MiB;
  r.wrote(50 * MiB);
  expect(r.outstanding).toBe(10 * MiB);
  expect(ledger.outstanding()).toBe(10 * MiB);
  // 40 MiB more fit the 50 free less the 10 held; 41 do not.
  await refusal(r.grow(41 * MiB));
  expect(r.outstanding).toBe(10 * MiB);
  await r.grow(40 * MiB);
  expect(r.outstanding).toBe(50 * MiB);
  const other = ledger.reserve(1);
  await refusal(other);
  r.release();
  expect(ledger.outstanding()).toBe(0);
});

test("unpacking claims room in steps past what was declared, times the copies, and stops when the disk is short", async () => {
  const d = disk(100 * MiB);
  const ledger = new DiskLedger("/", 0, d.free);
  const r = await ledger.reserve(10 * MiB * 2);
  const room = roomAsUnpacked(r, 10 * MiB, 2);
  await room(10 * MiB);
  expect(r.outstanding).toBe(20 * MiB);
  await room(10 * MiB + 1);
  expect(r.outstanding).toBe(20 * MiB + 2 * ROOM_STEP_BYTES);
  // Within the step just claimed: no new claim.
  await room(10 * MiB + ROOM_STEP_BYTES);
  expect(r.outstanding).toBe(20 * MiB + 2 * ROOM_STEP_BYTES);
  // A chunked body, declared 0: refused once a step no longer fits.
  const chunked = await ledger.reserve(0);
  const grow = roomAsUnpacked(chunked, 0, 1);
  let unpacked = 0;
  const err = await refusal(
    (async () => {
      for (;;) await grow((unpacked += MiB));
    })(),
  );
  expect(err.message).toMatch(/not enough disk space/);
  expect(unpacked).toBeLessThanOrEqual(100 * MiB - 36 * MiB + ROOM_STEP_BYTES);
  expect(chunked.outstanding).toBeLessThanOrEqual(100 * MiB - 36 * MiB);
  chunked.release();
  r.release();
});

test("the real free space is read from the filesystem, and the blob store counts as a second copy only on the same disk", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "ledger-"));
  try {
    expect(await freeBytes(dir)).toBeGreaterThan(0);
    expect(await diskCopies({ driver: "fs", root: dir, fsync: true }, dir)).toBe(2);
    expect(await diskCopies({ driver: "s3", fsync: true, s3: { bucket: "b" } as never }, dir)).toBe(1);
    // /proc is never the disk a directory under tmp lives on.
    expect((await stat("/proc")).dev).not.toBe((await stat(dir)).dev);
    expect(await diskCopies({ driver: "fs", root: "/proc", fsync: true }, dir)).toBe(1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
