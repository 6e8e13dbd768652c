// CPU profiles of Berth's hot paths: Berth (fs + Postgres) runs under `node --cpu-prof` while one
// path gets a short focused load; the profile (written when Berth exits) is summarised as self time
// by function and by package. Postgres' own CPU is not in it (separate processes).
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { createTestDatabase } from "../test/support/postgres";
import { startBerthProcess } from "./lib/berth-process";
import { RegistryClient } from "./lib/client";
import { payload, sha256 } from "./lib/data";
import { runLoad } from "./lib/load";
import { cpuSeconds, sysSeconds, treeCpuSeconds } from "./lib/proc";
import { MiB, round } from "./lib/stats";
import type { TargetEnv } from "./targets";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: CallFrame }>;
  /** µs on the monotonic clock, the same clock as process.hrtime() of any process on the machine. */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A window of monotonic time in µs (process.hrtime.bigint() / 1000). */
export interface Window {
  fromUs: number;
  toUs: number;
}

export interface SelfTime {
  name: string;
  selfMs: number;
  /** Share of the non-idle samples, %. */
  pct: number;
}

export interface ProfileSummary {
  id: string;
  title: string;
  /** Operations completed during the load. */
  ops: number;
  opsPerSec: number;
  /** Length of the load window, s. */
  seconds: number;
  /**
   * CPU the server really used in the window (from /proc). V8 samples on a wall-clock timer, so on an
   * oversubscribed machine the time a thread waits for a core is charged to whatever it was running
   * (often the socket write that woke the client up): compare busyMs with this.
   */
  serverCpuSeconds: number;
  serverSysPercent: number;
  dbCpuSeconds: number | null;
  /** Sampled time the process was not idle, ms. */
  busyMs: number;
  idleMs: number;
  functions: SelfTime[];
  /** The same ranking restricted to JavaScript functions (no native bindings, GC or VM entries). */
  jsFunctions: SelfTime[];
  packages: SelfTime[];
  /** True when only the samples of the load window were counted. */
  windowed: boolean;
}

const VM_ENTRIES = new Set(["(program)", "(garbage collector)", "(root)", "(idle)"]);

function packageOf(url: string, name: string): string {
  if (!url) return VM_ENTRIES.has(name) ? name : "(native: C++ bindings, syscalls)";
  if (url.startsWith("node:")) return "node core";
  const nm = url.lastIndexOf("node_modules/");
  if (nm !== -1) {
    const parts = url.slice(nm + 13).split("/");
    return parts[0]!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  if (url.includes("/dist/generated/")) return "berth: generated prisma client";
  if (url.includes("/dist/")) return "berth (dist/)";
  return "other";
}

function location(url: string, line: number, repoRoot: string): string {
  if (!url) return "";
  let u = url.replace(/^file:\/\//, "");
  if (u.startsWith(repoRoot)) u = u.slice(repoRoot.length + 1);
  const nm = u.lastIndexOf("node_modules/");
  if (nm !== -1) u = u.slice(nm + 13);
  return `${u}:${line + 1}`;
}

/**
 * Self time by function and package. With a window, only samples taken inside it count (start-up,
 * migrations and the untimed set-up stay out); if the window matches no sample, all of them count.
 */
export function summariseProfile(
  profile: CpuProfile,
  repoRoot: string,
  window?: Window,
  top = 15,
): Pick<ProfileSummary, "busyMs" | "idleMs" | "functions" | "jsFunctions" | "packages" | "windowed"> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const stamps: number[] = [];
  let t = profile.startTime;
  for (const d of profile.timeDeltas) stamps.push((t += d));
  const inWindow = (i: number) => !window || (stamps[i]! >= window.fromUs && stamps[i]! <= window.toUs);
  const windowed = window !== undefined && profile.samples.some((_, i) => inWindow(i));
  const counted = (i: number) => !windowed || inWindow(i);
  const fn = new Map<string, number>();
  const js = new Map<string, number>();
  const pkg = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    if (!counted(i)) return;
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const cf = byId.get(id);
    if (!cf) return;
    if (cf.functionName === "(idle)") {
      idle += ms;
      return;
    }
    busy += ms;
    const loc = location(cf.url, cf.lineNumber, repoRoot);
    const key = `${cf.functionName || "(anonymous)"}${loc ? ` ${loc}` : ""}`;
    fn.set(key, (fn.get(key) ?? 0) + ms);
    if (cf.url) js.set(key, (js.get(key) ?? 0) + ms);
    const p = packageOf(cf.url, cf.functionName);
    pkg.set(p, (pkg.get(p) ?? 0) + ms);
  });
  const rank = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, ms]) => ({ name, selfMs: round(ms, 1), pct: round((100 * ms) / (busy || 1), 1) }));
  return { busyMs: round(busy, 0), idleMs: round(idle, 0), functions: rank(fn, top), jsFunctions: rank(js, top), packages: rank(pkg, 12), windowed };
}

interface ProfiledPath {
  id: string;
  title: string;
  /** Untimed preparation; returns the operation to load the server with, and the concurrency. */
  prepare(client: (connections: number) => RegistryClient): Promise<{ concurrency: number; op: (i: number) => Promise<void> }>;
}

const REPO = "bench/profile";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

/** Pushes a config and a layer; returns a maker of valid manifests over them, distinct per `unique`. */
async function manifestBlobs(c: RegistryClient): Promise<(unique: string) => Buffer> {
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const layer = payload(4096, "profile-layer");
  await c.pushMonolithic(REPO, { data: config, digest: sha256(config) });
  await c.pushMonolithic(REPO, layer);
  return (unique) =>
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layer.digest, size: layer.data.length }],
        annotations: { "org.berth.bench": unique },
      }),
    );
}

const PATHS: ProfiledPath[] = [
  {
    id: "manifest-get",
    title: "manifest GET by tag, concurrency 8",
    async prepare(client) {
      const make = await manifestBlobs(client(1));
      await client(1).putManifest(REPO, "v1", make("v1"), OCI_MANIFEST);
      const load = client(8);
      return { concurrency: 8, op: () => load.getManifest(REPO, "v1").then(() => undefined) };
    },
  },
  {
    id: "head-blob",
    title: "HEAD blob, concurrency 32",
    async prepare(client) {
      const c = client(8);
      const blobs = Array.from({ length: 64 }, (_, i) => payload(4096, `profile-head-${i}`));
      await Promise.all(blobs.map((b) => c.pushMonolithic(REPO, b)));
      const load = client(32);
      return { concurrency: 32, op: (i) => load.headBlob(REPO, blobs[i % blobs.length]!.digest) };
    },
  },
  {
    id: "blob-push",
    title: "blob push, monolithic 16 MiB, sequential",
    async prepare(client) {
      // A few distinct blobs, pushed round-robin: the server does the full work each time.
      const blobs = Array.from({ length: 4 }, (_, i) => payload(16 * MiB, `profile-push-${i}`));
      const load = client(1);
      return { concurrency: 1, op: (i) => load.pushMonolithic(`${REPO}-push`, blobs[i % blobs.length]!) };
    },
  },
  {
    id: "blob-pull",
    title: "blob pull, 16 MiB, sequential (client does not hash)",
    async prepare(client) {
      const blob = payload(16 * MiB, "profile-pull");
      await client(1).pushMonolithic(REPO, blob);
      const load = client(1);
      return { concurrency: 1, op: () => load.pullDiscard(REPO, blob.digest) };
    },
  },
  {
    id: "manifest-put",
    title: "manifest PUT (new tag), concurrency 8",
    async prepare(client) {
      const make = await manifestBlobs(client(1));
      const load = client(8);
      return { concurrency: 8, op: (i) => load.putManifest(REPO, `t${i}`, make(`t${i}`), OCI_MANIFEST) };
    },
  },
];

export async function profileBerth(env: TargetEnv, seconds: number, log: (msg: string) => void): Promise<ProfileSummary[]> {
  const out: ProfileSummary[] = [];
  for (const p of PATHS) {
    const dir = path.join(env.work, `profile-${p.id}`);
    await mkdir(dir, { recursive: true });
    const pg = await env.postgres();
    const db = await createTestDatabase(pg.adminUrl);
    const clients: RegistryClient[] = [];
    const berth = await startBerthProcess({ repoRoot: env.repoRoot, dataDir: path.join(dir, "data"), databaseUrl: db.url, fsync: env.fsync, cpuProfDir: dir });
    try {
      const client = (n: number) => {
        const c = new RegistryClient(berth.host, n);
        clients.push(c);
        return c;
      };
      const { concurrency, op } = await p.prepare(client);
      const cpu0 = { server: cpuSeconds(berth.pid), sys: sysSeconds(berth.pid), db: pg.pid ? treeCpuSeconds(pg.pid) : NaN };
      const fromUs = Number(process.hrtime.bigint() / 1000n);
      const r = await runLoad({ concurrency, durationMs: seconds * 1000, op });
      const window = { fromUs, toUs: Number(process.hrtime.bigint() / 1000n) };
      const serverCpu = cpuSeconds(berth.pid) - cpu0.server;
      const used = {
        seconds: round(r.seconds, 2),
        serverCpuSeconds: round(serverCpu, 2),
        serverSysPercent: serverCpu > 0 ? round((100 * (sysSeconds(berth.pid) - cpu0.sys)) / serverCpu, 1) : 0,
        // The Postgres server is shared with nothing else during profiling.
        dbCpuSeconds: pg.pid ? round(treeCpuSeconds(pg.pid) - cpu0.db, 2) : null,
      };
      for (const c of clients) await c.close();
      await berth.stop();
      const profile = JSON.parse(await readFile(path.join(dir, "berth.cpuprofile"), "utf8")) as CpuProfile;
      const summary = { id: p.id, title: p.title, ops: r.ops, opsPerSec: round(r.opsPerSec, 1), ...used, ...summariseProfile(profile, env.repoRoot, window) };
      log(`profile ${p.id}: ${r.ops} ops, busy ${summary.busyMs} ms; top: ${summary.functions.slice(0, 3).map((f) => `${f.name} ${f.pct}%`).join(", ")}`);
      out.push(summary);
    } finally {
      for (const c of clients) await c.close().catch(() => undefined);
      await berth.stop();
      await db.drop();
    }
  }
  return out;
}
