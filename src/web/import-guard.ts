import { OciError } from "../http/errors";

/** How long a refused import is told to wait: imports take seconds to minutes, so a short, fixed hint. */
const RETRY_AFTER_SECONDS = 10;

/**
 * Counts the imports running, in total and per user: each one holds a work directory as large as its
 * archive and keeps a disk busy, so a few users must not be able to start hundreds of them.
 */
export class ImportSlots {
  private running = 0;
  private readonly perUser = new Map<string, number>();

  constructor(private readonly limits: { total: number; perUser: number }) {}

  /** Takes a slot for `who`, or refuses (429 for this user's own limit, 503 when the server is full); the function returned gives it back. */
  take(who: string): () => void {
    const mine = this.perUser.get(who) ?? 0;
    const retry = { headers: { "Retry-After": String(RETRY_AFTER_SECONDS) } };
    if (mine >= this.limits.perUser) {
      throw new OciError("TOOMANYREQUESTS", `you already have ${mine} imports running (web.importConcurrencyPerUser); retry when one has finished`, retry);
    }
    if (this.running >= this.limits.total) {
      throw new OciError("UNAVAILABLE", `the server is running ${this.running} imports already (web.importConcurrency); retry later`, retry);
    }
    this.running++;
    this.perUser.set(who, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      const left = (this.perUser.get(who) ?? 1) - 1;
      if (left > 0) this.perUser.set(who, left);
      else this.perUser.delete(who);
    };
  }
}

