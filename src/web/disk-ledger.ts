import { stat, statfs } from "node:fs/promises";
import type { Config } from "../config";
import { OciError } from "../http/errors";

/** Bytes free to an unprivileged writer on the filesystem holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const fs = await statfs(dir);
  return fs.bavail * fs.bsize;
}

/** Room one writer holds in a DiskLedger; released once, however the writer ends. */
export interface DiskReservation {
  /** Room held and not yet written. */
  readonly outstanding: number;
  /** Holds `bytes` more, or refuses (507) if the disk would go below the reserve the server keeps. */
  grow(bytes: number): Promise<void>;
  /** Notes bytes written: the disk's free space now shows them, so the ledger stops holding them too. */
  wrote(bytes: number): void;
  release(): void;
}

/**
 * Process-wide account of the disk room that running writers (imports) have claimed but not yet written.
 * Every writer checks the disk's free space minus what the others still hold, so N concurrent imports
 * cannot each see the same free space and together fill the disk. Checks run one at a time: two writers
 * never both count room only one of them can have.
 */
export class DiskLedger {
  private readonly held = new Set<{ reserved: number; written: number }>();
  private checks: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: string,
    /** Free space the disk must keep for everything else (the metadata database, other uploads). */
    private readonly minFreeBytes: number,
    private readonly free: (dir: string) => Promise<number> = freeBytes,
  ) {}

  /** Room claimed and not yet written, by every writer. */
  outstanding(): number {
    let sum = 0;
    for (const r of this.held) sum += Math.max(0, r.reserved - r.written);
    return sum;
  }

  /** Claims `bytes` (507 when the disk cannot take them plus what others hold plus the reserve). */
  async reserve(bytes: number): Promise<DiskReservation> {
    const entry = { reserved: 0, written: 0 };
    this.held.add(entry);
    let released = false;
    const reservation: DiskReservation = {
      get outstanding() {
        return Math.max(0, entry.reserved - entry.written);
      },
      grow: (more) => this.claim(entry, more),
      wrote: (n) => {
        entry.written += n;
      },
      release: () => {
        if (released) return;
        released = true;
        this.held.delete(entry);
      },
    };
    try {
      await this.claim(entry, bytes);
    } catch (err) {
      reservation.release();
      throw err;
    }
    return reservation;
  }

  private claim(entry: { reserved: number; written: number }, bytes: number): Promise<void> {
    const check = this.checks.then(async () => {
      if (!this.held.has(entry)) return;
      const free = await this.free(this.dir);
      const others = this.outstanding() - Math.max(0, entry.reserved - entry.written);
      const mine = Math.max(0, entry.reserved - entry.written) + bytes;
      if (free - others - mine < this.minFreeBytes) {
        throw new OciError(
          "UNAVAILABLE",
          `not enough disk space for this import: ${free} bytes free under the data directory, ${others} held by imports running, ${mine} needed by this one, plus a reserve of ${this.minFreeBytes} (web.importMinFreeBytes)`,
          { status: 507 },
        );
      }
      entry.reserved += bytes;
    });
    this.checks = check.catch(() => undefined);
    return check;
  }
}

/** How much more room an import claims each time its unpacking passes what it holds: one statfs per step. */
export const ROOM_STEP_BYTES = 8 * 1024 * 1024;

/**
 * The check an import's unpacking calls with the bytes unpacked so far: once they pass what `reservation`
 * covers (`covered` unpacked bytes at the start), it claims another step, `copies` times over (the work
 * file, and the blob store's copy of it when that is on the same disk). A chunked body, which declares
 * nothing, is so held to the disk as it is written, and refused with 507 when the disk would run short.
 */
export function roomAsUnpacked(reservation: DiskReservation, covered: number, copies: number): (unpacked: number) => Promise<void> {
  return async (unpacked) => {
    if (unpacked <= covered) return;
    const step = Math.max(unpacked - covered, ROOM_STEP_BYTES);
    await reservation.grow(step * copies);
    covered += step;
  };
}

/**
 * How many times an import's bytes land on the disk holding `dir`: its work files, plus the blob store's
 * copy of them when the filesystem driver keeps blobs on that same disk (S3 keeps them elsewhere).
 */
export async function diskCopies(storage: Config["storage"], dir: string): Promise<number> {
  if (storage.driver !== "fs" || !storage.root) return 1;
  const [work, blobs] = await Promise.all([stat(dir), stat(storage.root).catch(() => null)]);
  return !blobs || blobs.dev === work.dev ? 2 : 1;
}
