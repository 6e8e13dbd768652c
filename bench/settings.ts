// Sizes, counts and durations of a run: the full benchmark (about 12 minutes on 2 cores, the mirror suite 2 of them) and the
// --quick smoke mode (tiny sizes, one or two repetitions: checks the harness end to end in < 1 min).
import { GiB, MiB } from "./lib/stats";

const KiB = 1024;

export interface SizedCount {
  label: string;
  size: number;
  /** Blobs per repetition (small blobs are pushed several times so one repetition is not 5 ms). */
  count: number;
}

export interface Settings {
  quick: boolean;
  reps: number;
  /** Repetitions of the blob push/pull rows (cheap, noisy: more of them). */
  blobReps: number;
  monolithic: SizedCount[];
  chunked: { label: string; size: number; chunk: number };
  range: { count: number; size: number; concurrency: number };
  manifest: { concurrency: number[]; durationMs: number; warmupMs: number };
  small: { count: number; size: number; concurrency: number };
  head: { concurrency: number; durationMs: number; warmupMs: number };
  /** Layer sizes (MiB of uncompressed random content; gzip keeps ~90 %) of the skopeo image. */
  skopeo: { layerMiB: number[]; reps: number };
  /** The memory check: one blob of this size pushed (streamed PATCH) and pulled; 0 = skipped. */
  big: { size: number; label: string };
  /** The mirror suite's image (random layers + a config) and how many clients pull it cold at once. */
  mirror: { layers: number; layerSize: number; concurrency: number };
  ceilings: { bytes: number; durationMs: number };
  /** Seconds of focused load per profiled path; 0 = no profiling. */
  profileSeconds: number;
}

export function fullSettings(): Settings {
  return {
    quick: false,
    reps: 5,
    blobReps: 5,
    monolithic: [
      { label: "1 MiB", size: MiB, count: 16 },
      { label: "16 MiB", size: 16 * MiB, count: 4 },
      { label: "128 MiB", size: 128 * MiB, count: 1 },
    ],
    chunked: { label: "128 MiB", size: 128 * MiB, chunk: 5 * MiB },
    range: { count: 64, size: MiB, concurrency: 4 },
    manifest: { concurrency: [1, 8, 32], durationMs: 1_500, warmupMs: 250 },
    small: { count: 1_000, size: 4 * KiB, concurrency: 16 },
    head: { concurrency: 32, durationMs: 1_500, warmupMs: 250 },
    skopeo: { layerMiB: [64, 48, 32, 24, 16, 12, 8, 4], reps: 3 },
    big: { size: 2 * GiB, label: "2 GiB" },
    mirror: { layers: 5, layerSize: 8 * MiB, concurrency: 20 },
    ceilings: { bytes: 512 * MiB, durationMs: 2_000 },
    profileSeconds: 6,
  };
}

export function quickSettings(): Settings {
  return {
    quick: true,
    reps: 1,
    blobReps: 2,
    monolithic: [
      { label: "64 KiB", size: 64 * KiB, count: 2 },
      { label: "1 MiB", size: MiB, count: 1 },
    ],
    chunked: { label: "2 MiB", size: 2 * MiB, chunk: 512 * KiB },
    range: { count: 4, size: 64 * KiB, concurrency: 2 },
    manifest: { concurrency: [1, 8, 32], durationMs: 150, warmupMs: 0 },
    small: { count: 64, size: 4 * KiB, concurrency: 16 },
    head: { concurrency: 32, durationMs: 150, warmupMs: 0 },
    skopeo: { layerMiB: [1, 1], reps: 1 },
    big: { size: 16 * MiB, label: "16 MiB" },
    mirror: { layers: 2, layerSize: 256 * KiB, concurrency: 20 },
    ceilings: { bytes: 16 * MiB, durationMs: 200 },
    profileSeconds: 0.5,
  };
}
