// What a workload is to the harness: a case runs once per repetition per target and returns one
// number (higher is better), measured inside ctx.measure() so server RSS/CPU cover just that part.
import type { RunningTarget } from "../targets";
import type { RegistryClient } from "./client";
import type { Settings } from "../settings";
import type { UpstreamCount } from "./upstream";

export interface Measured {
  /** The row's value for this repetition, higher is better (MiB/s, ops/s…). */
  value: number;
  /** Payload bytes moved (for server CPU seconds per GiB). */
  bytes?: number;
  /** HTTP requests made (for server CPU per request). */
  requests?: number;
  p50Ms?: number;
  p99Ms?: number;
  /** Mirror rows: what the target asked its upstream for during the measured part. */
  upstream?: UpstreamCount;
}

export interface CaseContext {
  target: RunningTarget;
  rep: number;
  settings: Settings;
  /** Scratch directory of the run. */
  work: string;
  /** Per-target state shared between cases (e.g. what a push left for the pull to read). */
  state: Map<string, unknown>;
  /** A keep-alive client to the target (or to `host`, e.g. a mirror's upstream); closed by the harness after the case. */
  client(connections?: number, host?: string): RegistryClient;
  /** Runs fn as the measured part: server RSS/CPU and client CPU are recorded around it. */
  measure<T>(fn: () => Promise<T>): Promise<T>;
}

export interface Goal {
  /** Minimum ratio Berth ÷ reference. */
  min: number;
  /** Which issue target this row counts towards ("blob push ≥ 1.3×"). */
  name: string;
}

export interface CaseDef {
  id: string;
  /** Phase for the server RSS / CPU table. */
  group: string;
  title: string;
  unit: string;
  goal?: Goal;
  /** Repetitions (default: settings.reps). */
  reps?: number;
  /** Rows with latency percentiles get a latency table entry. */
  latency?: boolean;
  run(ctx: CaseContext): Promise<Measured>;
}

export const GOALS = {
  push: { min: 1.3, name: "blob push ≥ 1.3×" },
  pull: { min: 1.0, name: "blob pull ≥ 1.0×" },
  manifestGet: { min: 2, name: "manifest GET ≥ 2×" },
  head: { min: 2, name: "blob HEAD ≥ 2×" },
  manifestPut: { min: 1.5, name: "manifest PUT ≥ 1.5×" },
  small: { min: 1.5, name: "small-blob push ≥ 1.5×" },
} satisfies Record<string, Goal>;
