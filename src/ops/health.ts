import { PathNotFoundError, type StorageDriver } from "../storage/driver";

export interface CheckResult {
  ok: boolean;
  ms: number;
  error?: string;
}

export interface Readiness {
  ready: boolean;
  draining: boolean;
  checks: Record<string, CheckResult>;
}

/** The path readiness stats: it need not exist (not found means the store answered). */
export const STORAGE_PROBE_PATH = "_berth/readiness-probe";

/**
 * /healthz answers while the process runs; /readyz (ready to take traffic) also needs the database to answer
 * `SELECT 1` and the storage driver to answer a stat, each within the timeout, and goes false as soon as a
 * graceful shutdown starts so load balancers stop sending new requests.
 */
export class Health {
  private draining = false;

  constructor(
    private readonly checks: Record<string, () => Promise<unknown>>,
    private readonly timeoutMs = 2000,
  ) {}

  static forRegistry(deps: { database: { ping(): Promise<unknown> }; storage: StorageDriver }, timeoutMs?: number): Health {
    return new Health(
      {
        database: () => deps.database.ping(),
        storage: async () => {
          try {
            await deps.storage.stat(STORAGE_PROBE_PATH);
          } catch (err) {
            if (!(err instanceof PathNotFoundError)) throw err;
          }
        },
      },
      timeoutMs,
    );
  }

  drain(): void {
    this.draining = true;
  }

  async readiness(): Promise<Readiness> {
    const entries = await Promise.all(Object.entries(this.checks).map(async ([name, check]) => [name, await this.run(check)] as const));
    const checks = Object.fromEntries(entries);
    return { ready: !this.draining && entries.every(([, r]) => r.ok), draining: this.draining, checks };
  }

  private async run(check: () => Promise<unknown>): Promise<CheckResult> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        check(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs))),
      ]);
      return { ok: true, ms: elapsed(started) };
    } catch (err) {
      return { ok: false, ms: elapsed(started), error: (err as Error)?.message ?? String(err) };
    } finally {
      clearTimeout(timer);
    }
  }
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}
