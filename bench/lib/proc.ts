// Server-side measurements from /proc: resident memory (VmRSS, and the kernel's peak VmHWM, which
// can be reset per phase through /proc/<pid>/clear_refs) and CPU time (utime + stime of
// /proc/<pid>/stat). Linux only, like the servers under test.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface StatFields {
  ppid: number;
  /** utime + stime of the process itself, seconds. */
  cpu: number;
  /** stime alone (kernel time: syscalls, TCP, page cache), seconds. */
  sys: number;
  /** cutime + cstime: CPU of its reaped children, seconds. */
  childrenCpu: number;
}

function readStat(pid: number): StatFields | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); field n is rest[n - 3].
  const num = (field: number) => Number(rest[field - 3]);
  return { ppid: num(4), cpu: (num(14) + num(15)) / CLK_TCK, sys: num(15) / CLK_TCK, childrenCpu: (num(16) + num(17)) / CLK_TCK };
}

/** CPU seconds (user + system) the process has used so far; NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  return readStat(pid)?.cpu ?? NaN;
}

/** Kernel-mode part of cpuSeconds. */
export function sysSeconds(pid: number): number {
  return readStat(pid)?.sys ?? NaN;
}

/**
 * CPU seconds of a whole process tree: the root (including its reaped children) plus every live
 * descendant. Differences of two readings stay right when a child exits in between (its time moves
 * into the parent's cutime/cstime). Used for Postgres: postmaster + backends.
 */
export function treeCpuSeconds(rootPid: number): number {
  const root = readStat(rootPid);
  if (!root) return NaN;
  const children = new Map<number, number[]>();
  const stats = new Map<number, StatFields>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const s = readStat(pid);
    if (!s) continue;
    stats.set(pid, s);
    const list = children.get(s.ppid) ?? [];
    list.push(pid);
    children.set(s.ppid, list);
  }
  let total = root.cpu + root.childrenCpu;
  const stack = [...(children.get(rootPid) ?? [])];
  while (stack.length) {
    const pid = stack.pop()!;
    total += stats.get(pid)?.cpu ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** { rss, hwm } in bytes from /proc/<pid>/status; null once the process is gone. */
export function memory(pid: number): { rss: number; hwm: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return null;
  }
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

/** Resets the kernel's peak-RSS counter (VmHWM) to the current RSS. Needs to own the process (or root). */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** The pid of a listening postmaster, found by its `-p PORT` argument (its data dir is private to the helper). */
export function findPostmaster(port: number): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (!argv[0]?.endsWith("/postgres")) continue;
    const p = argv.indexOf("-p");
    if (p !== -1 && argv[p + 1] === String(port)) return Number(entry);
  }
  return undefined;
}

export interface PhaseUsage {
  /** Peak resident set of the server process during the phase, bytes. */
  peakRss: number;
  /** Server process CPU seconds during the phase (user + system). */
  serverCpu: number;
  /** The system (kernel) part of serverCpu. */
  serverSys: number;
  /** CPU seconds of the server's database (Postgres tree), when it has a separate one. */
  dbCpu: number | null;
  /** CPU seconds the load generator (this process) used. */
  clientCpu: number;
  /** Wall-clock seconds. */
  wall: number;
}

/**
 * Measures one stretch of work against a server: peak RSS by resetting VmHWM at the start and reading
 * it at the end, with VmRSS sampled every 50 ms as a fallback; CPU by differences.
 */
export class PhaseMeter {
  private timer: NodeJS.Timeout | undefined;
  private sampledPeak = 0;
  private hwmReset = false;
  private start = { server: 0, sys: 0, db: 0, client: process.cpuUsage(), wall: 0 };

  constructor(
    private readonly pid: number,
    private readonly dbPid?: number,
  ) {}

  begin(): void {
    this.hwmReset = resetPeakRss(this.pid);
    this.sampledPeak = memory(this.pid)?.rss ?? 0;
    this.timer = setInterval(() => {
      const m = memory(this.pid);
      if (m && m.rss > this.sampledPeak) this.sampledPeak = m.rss;
    }, 50);
    this.timer.unref();
    this.start = {
      server: cpuSeconds(this.pid),
      sys: sysSeconds(this.pid),
      db: this.dbPid ? treeCpuSeconds(this.dbPid) : 0,
      client: process.cpuUsage(),
      wall: performance.now(),
    };
  }

  end(): PhaseUsage {
    clearInterval(this.timer);
    const wall = (performance.now() - this.start.wall) / 1000;
    const client = process.cpuUsage(this.start.client);
    const m = memory(this.pid);
    const peak = Math.max(this.sampledPeak, m?.rss ?? 0, this.hwmReset ? (m?.hwm ?? 0) : 0);
    return {
      peakRss: peak,
      serverCpu: cpuSeconds(this.pid) - this.start.server,
      serverSys: sysSeconds(this.pid) - this.start.sys,
      dbCpu: this.dbPid ? treeCpuSeconds(this.dbPid) - this.start.db : null,
      clientCpu: (client.user + client.system) / 1e6,
      wall,
    };
  }
}
