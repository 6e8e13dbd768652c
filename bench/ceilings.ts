// The machine's own limits, measured in the same run: loopback HTTP with a trivial Node server (in its
// own process, like the registries), disk write with fsync and read, sha256 in Node.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { open, rm } from "node:fs/promises";
import path from "node:path";
import { Pool } from "undici";
import { run } from "../test/e2e/support/process";
import { HeadClient } from "./lib/head-client";
import { runLoad } from "./lib/load";
import { median, MiB } from "./lib/stats";

export interface Ceiling {
  id: string;
  title: string;
  unit: string;
  value: number | null;
  note?: string;
}

const REPS = 3;

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

async function medianRate(bytes: number, fn: () => Promise<void>): Promise<number> {
  const rates: number[] = [];
  for (let i = 0; i < REPS; i++) rates.push(bytes / MiB / (await timed(fn)));
  return median(rates);
}

async function loopback(bytes: number, durationMs: number): Promise<Ceiling[]> {
  const child = spawn(process.execPath, [path.join(__dirname, "lib", "trivial-server.js")], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const [first] = (await once(child.stdout!, "data")) as [Buffer];
    const origin = `http://127.0.0.1:${Number(first.toString().trim())}`;
    const pool = new Pool(origin, { connections: 32, pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
    try {
      const download = (hash: boolean) => async () => {
        const res = await pool.request({ method: "GET", path: `/bytes/${bytes}` });
        const h = hash ? createHash("sha256") : null;
        for await (const chunk of res.body) h?.update(chunk as Buffer);
        h?.digest();
      };
      const body = Buffer.alloc(bytes, 0x33);
      const upload = async () => {
        const res = await pool.request({ method: "PUT", path: "/sink", body, headers: { "content-length": String(bytes) } });
        await res.body.dump();
      };
      const small = async () => {
        const res = await pool.request({ method: "GET", path: "/small" });
        await res.body.dump();
      };
      await download(false)(); // warm up
      const reqs = async (concurrency: number) => (await runLoad({ concurrency, durationMs, op: small })).opsPerSec;
      return [
        { id: "loopback-download", title: "loopback HTTP download (trivial Node server)", unit: "MiB/s", value: await medianRate(bytes, download(false)) },
        { id: "loopback-download-sha256", title: "loopback HTTP download + client sha256", unit: "MiB/s", value: await medianRate(bytes, download(true)) },
        { id: "loopback-upload", title: "loopback HTTP upload (server drops the body)", unit: "MiB/s", value: await medianRate(bytes, upload) },
        { id: "loopback-requests-c1", title: "loopback HTTP requests, empty 200, concurrency 1", unit: "ops/s", value: await reqs(1) },
        { id: "loopback-requests-c32", title: "loopback HTTP requests, empty 200, concurrency 32", unit: "ops/s", value: await reqs(32) },
        { id: "loopback-head-c32", title: "loopback HTTP HEAD (the HEAD blob client), concurrency 32", unit: "ops/s", value: await heads(origin, durationMs) },
      ];
    } finally {
      await pool.close();
    }
  } finally {
    child.kill("SIGTERM");
    if (child.exitCode === null) await once(child, "exit");
  }
}

async function heads(origin: string, durationMs: number): Promise<number> {
  const client = new HeadClient(origin.replace("http://", ""));
  try {
    return (await runLoad({ concurrency: 32, durationMs, op: () => client.head("/small").then(() => undefined) })).opsPerSec;
  } finally {
    client.close();
  }
}

async function disk(dir: string, bytes: number): Promise<Ceiling[]> {
  const file = path.join(dir, "ceiling-disk.bin");
  const chunk = Buffer.alloc(MiB, 0x77);
  try {
    const write = await medianRate(bytes, async () => {
      const fh = await open(file, "w");
      try {
        for (let at = 0; at < bytes; at += chunk.length) await fh.write(chunk, 0, Math.min(chunk.length, bytes - at));
        await fh.sync();
      } finally {
        await fh.close();
      }
    });
    const read = await medianRate(bytes, async () => {
      const fh = await open(file, "r");
      const buf = Buffer.allocUnsafe(MiB);
      try {
        while ((await fh.read(buf, 0, buf.length)).bytesRead > 0);
      } finally {
        await fh.close();
      }
    });
    let direct: number | null = null;
    let note: string | undefined;
    try {
      direct = await medianRate(bytes, async () => {
        await run("dd", [`if=${file}`, "of=/dev/null", "bs=1M", "iflag=direct"]);
      });
    } catch (err) {
      note = `dd iflag=direct failed: ${(err as Error).message.split("\n")[0]}`;
    }
    return [
      { id: "disk-write-fsync", title: "disk write, 1 MiB writes + fsync", unit: "MiB/s", value: write },
      { id: "disk-read-cached", title: "disk read, page cache (what fresh blobs hit)", unit: "MiB/s", value: read },
      { id: "disk-read-direct", title: "disk read, O_DIRECT (dd iflag=direct)", unit: "MiB/s", value: direct, note },
    ];
  } finally {
    await rm(file, { force: true });
  }
}

function sha256Rate(bytes: number): Promise<Ceiling> {
  const chunk = Buffer.alloc(MiB, 0x42);
  return medianRate(bytes, async () => {
    const h = createHash("sha256");
    for (let at = 0; at < bytes; at += chunk.length) h.update(chunk);
    h.digest();
  }).then((value) => ({ id: "sha256", title: "sha256 in Node (1 MiB updates)", unit: "MiB/s", value }));
}

export async function measureCeilings(work: string, opts: { bytes: number; durationMs: number }): Promise<Ceiling[]> {
  return [...(await loopback(opts.bytes, opts.durationMs)), ...(await disk(work, opts.bytes)), await sha256Rate(opts.bytes)];
}
