// Turns raw samples into the results (medians, ratios, phases, goals) and renders them as Markdown
// tables, for the terminal and for docs/benchmarks.md alike.
import type { Ceiling } from "./ceilings";
import type { CaseDef, Measured } from "./lib/case";
import type { PhaseUsage } from "./lib/proc";
import { fmt, GiB, median, MiB, round } from "./lib/stats";
import type { ProfileSummary } from "./profile";
import type { TargetRole } from "./targets";
import type { UpstreamCount } from "./lib/upstream";
import { RSS_LIMIT } from "./workloads/big";

export interface Sample extends Partial<Measured> {
  rep: number;
  usage?: PhaseUsage;
  error?: string;
}

export interface TargetInfo {
  id: string;
  label: string;
  role: TargetRole;
  notes: string;
}

export interface RowResult {
  median: number | null;
  samples: number[];
  p50Ms?: number;
  p99Ms?: number;
  errors?: string[];
}

export interface Row {
  id: string;
  group: string;
  title: string;
  unit: string;
  goal?: { min: number; name: string };
  results: Record<string, RowResult>;
  /**
   * Berth ÷ reference per Berth target: the median over repetitions of the ratio within each repetition
   * (the two ran back to back, so slow drifts of a shared machine cancel out).
   */
  ratios: Record<string, number | null>;
  /** Berth median ÷ reference median, for comparison. */
  ratiosOfMedians: Record<string, number | null>;
  /** Lowest and highest per-repetition ratio: how much the machine's noise moved it. */
  ratioRanges: Record<string, [number, number] | null>;
  /**
   * Mirror rows, per target: upstream requests of a repetition — blob GETs and other requests as medians,
   * the most GETs of one blob as the worst repetition's.
   */
  upstream?: Record<string, UpstreamCount>;
}

export interface PhaseResult {
  group: string;
  targets: Record<
    string,
    {
      peakRssMiB: number;
      serverCpuSeconds: number;
      /** Share of the server's CPU spent in the kernel, %. */
      serverSysPercent: number;
      dbCpuSeconds: number | null;
      bytes: number;
      requests: number;
      /** Server CPU seconds per GiB of payload moved (phases that move bytes). */
      cpuSecondsPerGiB: number | null;
      dbCpuSecondsPerGiB: number | null;
      /** Server CPU µs per HTTP request. */
      cpuMicrosPerRequest: number | null;
      dbCpuMicrosPerRequest: number | null;
      /** Load generator CPU as % of one core over the measured time. */
      clientCpuPercent: number;
    }
  >;
}

export interface GoalResult {
  name: string;
  min: number;
  rows: string[];
  /** Per Berth target: the worst ratio over the goal's rows, and whether every row met the goal. */
  targets: Record<string, { worst: number | null; median: number | null; met: boolean }>;
}

export interface MemoryCheck {
  label: string;
  limitMiB: number;
  targets: Record<string, { pushPeakRssMiB: number | null; pullPeakRssMiB: number | null; pass: boolean | null }>;
}

/** One suite's targets and what they measured; ratios divide by the suite's own reference. */
export interface SuiteResult {
  name: string;
  reference: string;
  targets: TargetInfo[];
  rows: Row[];
  phases: PhaseResult[];
  goals: GoalResult[];
  memoryCheck: MemoryCheck | null;
}

export interface Results {
  /** 2: per-suite results under `suites` (1 had one suite's fields at the top level). */
  version: 2;
  date: string;
  mode: "full" | "quick";
  durationSeconds: number;
  machine: Record<string, unknown>;
  git: Record<string, unknown>;
  settings: unknown;
  suites: SuiteResult[];
  ceilings: Ceiling[];
  profiles: ProfileSummary[];
  errors: string[];
}

export function summariseRows(cases: CaseDef[], samples: Map<string, Map<string, Sample[]>>, targets: TargetInfo[], reference: string): Row[] {
  return cases.map((c) => {
    const results: Record<string, RowResult> = {};
    for (const t of targets) {
      const list = samples.get(c.id)?.get(t.id) ?? [];
      const ok = list.filter((s) => s.error === undefined && typeof s.value === "number" && Number.isFinite(s.value));
      const errors = list.filter((s) => s.error !== undefined).map((s) => s.error!);
      const p50 = ok.map((s) => s.p50Ms).filter((v): v is number => v !== undefined);
      const p99 = ok.map((s) => s.p99Ms).filter((v): v is number => v !== undefined);
      results[t.id] = {
        median: ok.length ? round(median(ok.map((s) => s.value!)), 3) : null,
        samples: ok.map((s) => round(s.value!, 3)),
        ...(p50.length ? { p50Ms: round(median(p50), 3), p99Ms: round(median(p99), 3) } : {}),
        ...(errors.length ? { errors } : {}),
      };
    }
    const ref = results[reference]?.median ?? null;
    const valueByRep = (target: string) => {
      const m = new Map<number, number>();
      for (const s of samples.get(c.id)?.get(target) ?? []) if (s.error === undefined && s.value !== undefined && Number.isFinite(s.value)) m.set(s.rep, s.value);
      return m;
    };
    const refByRep = valueByRep(reference);
    const ratios: Record<string, number | null> = {};
    const ratiosOfMedians: Record<string, number | null> = {};
    const ratioRanges: Record<string, [number, number] | null> = {};
    for (const t of targets) {
      if (t.role !== "berth") continue;
      const v = results[t.id]?.median ?? null;
      ratiosOfMedians[t.id] = v !== null && ref ? round(v / ref, 3) : null;
      const paired = [...valueByRep(t.id)].filter(([rep]) => refByRep.get(rep)).map(([rep, x]) => x / refByRep.get(rep)!);
      ratios[t.id] = paired.length ? round(median(paired), 3) : null;
      ratioRanges[t.id] = paired.length ? [round(Math.min(...paired), 3), round(Math.max(...paired), 3)] : null;
    }
    const upstream = summariseUpstream(targets.map((t) => [t.id, samples.get(c.id)?.get(t.id) ?? []]));
    return { id: c.id, group: c.group, title: c.title, unit: c.unit, ...(c.goal ? { goal: c.goal } : {}), results, ratios, ratiosOfMedians, ratioRanges, ...(upstream ? { upstream } : {}) };
  });
}

function summariseUpstream(perTarget: [string, Sample[]][]): Record<string, UpstreamCount> | undefined {
  const out: Record<string, UpstreamCount> = {};
  for (const [id, list] of perTarget) {
    const counted = list.filter((s) => s.error === undefined && s.upstream).map((s) => s.upstream!);
    if (!counted.length) continue;
    out[id] = {
      blobs: counted[0]!.blobs,
      blobGets: median(counted.map((u) => u.blobGets)),
      maxGetsPerBlob: Math.max(...counted.map((u) => u.maxGetsPerBlob)),
      otherRequests: median(counted.map((u) => u.otherRequests)),
    };
  }
  return Object.keys(out).length ? out : undefined;
}

export function summarisePhases(cases: CaseDef[], samples: Map<string, Map<string, Sample[]>>, targets: TargetInfo[]): PhaseResult[] {
  const groups = [...new Set(cases.map((c) => c.group))];
  return groups.map((group) => {
    const out: PhaseResult["targets"] = {};
    for (const t of targets) {
      let peak = 0;
      let cpu = 0;
      let sys = 0;
      let db: number | null = null;
      let bytes = 0;
      let requests = 0;
      let client = 0;
      let wall = 0;
      for (const c of cases.filter((x) => x.group === group)) {
        for (const s of samples.get(c.id)?.get(t.id) ?? []) {
          if (!s.usage) continue;
          peak = Math.max(peak, s.usage.peakRss);
          cpu += s.usage.serverCpu;
          sys += s.usage.serverSys;
          if (s.usage.dbCpu !== null) db = (db ?? 0) + s.usage.dbCpu;
          bytes += s.bytes ?? 0;
          requests += s.requests ?? 0;
          client += s.usage.clientCpu;
          wall += s.usage.wall;
        }
      }
      const gib = bytes / GiB;
      const perGiB = (x: number | null) => (x !== null && bytes >= 64 * MiB ? round(x / gib, 3) : null);
      const perReq = (x: number | null) => (x !== null && requests > 0 && bytes < 64 * MiB ? round((x * 1e6) / requests, 1) : null);
      out[t.id] = {
        peakRssMiB: round(peak / MiB, 1),
        serverCpuSeconds: round(cpu, 3),
        serverSysPercent: cpu > 0 ? round((100 * sys) / cpu, 1) : 0,
        dbCpuSeconds: db === null ? null : round(db, 3),
        bytes,
        requests,
        cpuSecondsPerGiB: perGiB(cpu),
        dbCpuSecondsPerGiB: perGiB(db),
        cpuMicrosPerRequest: perReq(cpu),
        dbCpuMicrosPerRequest: perReq(db),
        clientCpuPercent: wall > 0 ? round((100 * client) / wall, 1) : 0,
      };
    }
    return { group, targets: out };
  });
}

export function summariseGoals(rows: Row[], targets: TargetInfo[]): GoalResult[] {
  const names = [...new Set(rows.filter((r) => r.goal).map((r) => r.goal!.name))];
  return names.map((name) => {
    const mine = rows.filter((r) => r.goal?.name === name);
    const min = mine[0]!.goal!.min;
    const out: GoalResult["targets"] = {};
    for (const t of targets.filter((x) => x.role === "berth")) {
      const ratios = mine.map((r) => r.ratios[t.id] ?? null);
      const known = ratios.filter((x): x is number => x !== null);
      const worst = known.length === ratios.length && known.length ? Math.min(...known) : null;
      out[t.id] = { worst, median: known.length ? round(median(known), 3) : null, met: worst !== null && worst >= min };
    }
    return { name, min, rows: mine.map((r) => r.id), targets: out };
  });
}

export function memoryCheck(rows: Row[], phases: PhaseResult[], targets: TargetInfo[], samples: Map<string, Map<string, Sample[]>>, label: string): MemoryCheck | null {
  if (!rows.some((r) => r.id === "big-push")) return null;
  const peakOf = (caseId: string, target: string) => {
    const list = samples.get(caseId)?.get(target) ?? [];
    const peaks = list.filter((s) => s.usage && !s.error).map((s) => s.usage!.peakRss);
    return peaks.length ? round(Math.max(...peaks) / MiB, 1) : null;
  };
  const out: MemoryCheck["targets"] = {};
  for (const t of targets) {
    const push = peakOf("big-push", t.id);
    const pull = peakOf("big-pull", t.id);
    out[t.id] = { pushPeakRssMiB: push, pullPeakRssMiB: pull, pass: push === null || pull === null ? null : Math.max(push, pull) < RSS_LIMIT / MiB };
  }
  void phases;
  return { label, limitMiB: RSS_LIMIT / MiB, targets: out };
}

// ---------------------------------------------------------------------------------------------
// Markdown

function table(head: string[], body: string[][], align?: ("l" | "r")[]): string {
  const sep = head.map((_, i) => ((align?.[i] ?? (i === 0 ? "l" : "r")) === "r" ? "---:" : "---"));
  return [head, sep, ...body].map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

const ratio = (x: number | null | undefined) => (x === null || x === undefined ? "–" : `${x.toFixed(2)}×`);

export const SUITE_TITLES: Record<string, string> = {
  core: "Core suite: Berth against docker-registry",
  mirror: "Mirror suite: pull-through caches of one upstream",
};

export function renderMarkdown(r: Results): string {
  const out: string[] = [];
  if (!r.suites.length) out.push("(no workloads ran)");
  for (const [i, suite] of r.suites.entries()) {
    // Headings only when there is more than one table to tell apart.
    if (r.suites.length > 1) out.push(`${i ? "\n" : ""}### ${SUITE_TITLES[suite.name] ?? suite.name}\n`);
    out.push(...renderSuite(suite, r.ceilings));
  }

  if (r.ceilings.length) {
    out.push(
      "\nMachine ceilings (same run):\n",
      table(
        ["measurement", "value", "unit"],
        r.ceilings.map((c) => [c.title + (c.note ? ` (${c.note})` : ""), fmt(c.value), c.unit]),
      ),
    );
  }

  for (const p of r.profiles) {
    out.push(
      `\nCPU profile of berth-pg, ${p.title}: ${p.ops.toLocaleString("en-US")} ops (${fmt(p.opsPerSec)}/s) in ${fmt(p.seconds)} s; ` +
        `samples: ${fmt(p.busyMs)} ms busy, ${fmt(p.idleMs)} ms idle${p.windowed ? " (load window only)" : ""}; ` +
        `the server really used ${fmt(p.serverCpuSeconds)} s CPU (${fmt(p.serverSysPercent)} % in the kernel)` +
        `${p.dbCpuSeconds !== null ? ` and Postgres ${fmt(p.dbCpuSeconds)} s` : ""}. Self time by function:\n`,
      table(
        ["function (all samples)", "self ms", "%", "JavaScript only", "self ms", "%"],
        Array.from({ length: 10 }, (_, i) => {
          const cell = (f: { name: string; selfMs: number; pct: number } | undefined) =>
            f ? [`\`${f.name.replace(/\|/g, "\\|")}\``, fmt(f.selfMs), fmt(f.pct)] : ["", "", ""];
          return [...cell(p.functions[i]), ...cell(p.jsFunctions[i])];
        }).filter((cells) => cells.some((c) => c !== "")),
        ["l", "r", "r", "l", "r", "r"],
      ),
      "\nBy package: " + p.packages.map((x) => `${x.name} ${fmt(x.pct)} %`).join(", "),
    );
  }

  if (r.errors.length) out.push("\nErrors:\n", ...r.errors.map((e) => `- ${e}`));
  return out.join("\n");
}

function renderSuite(r: SuiteResult, ceilings: Ceiling[]): string[] {
  const berths = r.targets.filter((t) => t.role === "berth");
  const ref = r.targets.find((t) => t.id === r.reference);
  const goals = r.rows.some((row) => row.goal);
  const out: string[] = [];
  if (!ref || !r.rows.length) out.push("(no workloads ran)");
  else out.push(
    `Values are medians over repetitions (higher is better); a ratio is the median of the per-repetition ratios, with the lowest and highest in parentheses${goals ? "" : "; the issue sets no goal for these rows"}.\n`,
    table(
      ["workload", "unit", ref!.id, ...berths.flatMap((b) => [b.id, `${b.id} ÷ ${ref!.id}`]), ...(goals ? ["goal"] : [])],
      r.rows.map((row) => [
        row.title,
        row.unit,
        fmt(row.results[ref!.id]?.median),
        ...berths.flatMap((b) => {
          const range = row.ratioRanges[b.id];
          const spread = range && range[0] !== range[1] ? ` (${range[0].toFixed(2)}–${range[1].toFixed(2)})` : "";
          return [fmt(row.results[b.id]?.median), `${ratio(row.ratios[b.id])}${spread}`];
        }),
        ...(goals ? [row.goal ? `≥ ${row.goal.min}×` : ""] : []),
      ]),
    ),
  );

  const counted = r.rows.filter((row) => row.upstream);
  if (counted.length) {
    out.push(
      "\nUpstream requests per repetition during the measured part: GETs of the image's blobs in all (median), most GETs of any one blob (worst repetition; 1 = each blob fetched once), other requests (manifest and tag lookups, HEADs; median):\n",
      table(
        ["workload", "blobs", ...r.targets.map((t) => t.id)],
        counted.map((row) => {
          // Counts, not measurements: whole numbers (a median of an even number of repetitions may end in .5).
          const n = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));
          const cell = (u: UpstreamCount | undefined) => (u ? `${n(u.blobGets)} / ${u.maxGetsPerBlob} max / ${n(u.otherRequests)} other` : "–");
          const blobs = Object.values(row.upstream!)[0]!.blobs;
          return [row.title, String(blobs), ...r.targets.map((t) => cell(row.upstream![t.id]))];
        }),
      ),
    );
  }

  const lat = r.rows.filter((row) => Object.values(row.results).some((x) => x.p50Ms !== undefined));
  if (lat.length) {
    out.push(
      "\nLatency, ms (p50 / p99, medians over repetitions):\n",
      table(
        ["workload", ...r.targets.map((t) => t.id)],
        lat.map((row) => [row.title, ...r.targets.map((t) => (row.results[t.id]?.p50Ms === undefined ? "–" : `${fmt(row.results[t.id]!.p50Ms)} / ${fmt(row.results[t.id]!.p99Ms)}`))]),
      ),
    );
  }

  if (r.goals.length) out.push(
    "\nGoals (Berth ÷ reference, worst row / median row):\n",
    table(
      ["goal", ...berths.map((b) => b.id)],
      r.goals.map((g) => [
        g.name,
        ...berths.map((b) => {
          const x = g.targets[b.id]!;
          return `${ratio(x.worst)} / ${ratio(x.median)} ${x.met ? "met" : "**missed**"}`;
        }),
      ]),
    ),
  );

  const ceiling = ceilings.find((c) => c.id === "loopback-download-sha256")?.value ?? null;
  const pulls = r.rows.filter((row) => row.id === "big-pull" || row.id === r.rows.filter((x) => x.id.startsWith("blob-pull-")).at(-1)?.id);
  if (ceiling && pulls.length) {
    out.push(
      `\nLarge-blob pulls against the ceiling of a verified pull here (loopback download + client sha256, ${fmt(ceiling)} MiB/s; the issue asks for ≥ 80 %):\n`,
      table(
        ["workload", ...r.targets.map((t) => t.id)],
        pulls.map((row) => [row.title, ...r.targets.map((t) => {
          const v = row.results[t.id]?.median;
          return v ? `${fmt((100 * v) / ceiling)} %` : "–";
        })]),
      ),
    );
  }

  if (r.memoryCheck) {
    const m = r.memoryCheck;
    out.push(
      `\nMemory check, ${m.label} blob pushed and pulled (server peak RSS, MiB; limit ${m.limitMiB}):\n`,
      table(
        ["target", "push", "pull", "verdict"],
        r.targets.map((t) => {
          const x = m.targets[t.id]!;
          const verdict = x.pass === null ? "–" : t.role === "berth" ? (x.pass ? "pass" : "**fail**") : x.pass ? "(under)" : "(over)";
          return [t.id, fmt(x.pushPeakRssMiB), fmt(x.pullPeakRssMiB), verdict];
        }),
      ),
    );
  }

  if (r.phases.length && r.targets.length) out.push(
    "\nServer resources per phase: peak RSS (MiB); server CPU per GiB moved (s/GiB) or per request (µs/req), with the share spent in the kernel; for the Berth rows on PostgreSQL the Postgres processes' CPU is added after `+`; load generator CPU in % of one core:\n",
    table(
      ["phase", ...r.targets.map((t) => `${t.id} RSS`), ...r.targets.map((t) => `${t.id} CPU`), "client CPU"],
      r.phases.map((p) => {
        const cpu = (id: string) => {
          const x = p.targets[id]!;
          const [v, db, unit] =
            x.cpuSecondsPerGiB !== null ? [x.cpuSecondsPerGiB, x.dbCpuSecondsPerGiB, "s/GiB"] : [x.cpuMicrosPerRequest, x.dbCpuMicrosPerRequest, "µs/req"];
          if (v === null) return "–";
          return `${fmt(v)}${db !== null ? ` + ${fmt(db)}` : ""} ${unit}, ${fmt(x.serverSysPercent)} % sys`;
        };
        const clients = r.targets.map((t) => p.targets[t.id]!.clientCpuPercent);
        return [p.group, ...r.targets.map((t) => fmt(p.targets[t.id]!.peakRssMiB)), ...r.targets.map((t) => cpu(t.id)), `≤ ${fmt(Math.max(...clients))} %`];
      }),
    ),
  );

  return out;
}
