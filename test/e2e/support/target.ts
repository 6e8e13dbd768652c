// The registry under test. Every e2e file gets its registry from here: Berth, on a fresh database of the
// run's real Postgres and a temp data dir. (cncf-registry.ts keeps the reference registry for benchmarks.)
import { startTestRegistry } from "../../support/registry";
import { requestLog } from "../../support/request-log";

export interface TargetRegistry {
  /** "127.0.0.1:PORT", plain HTTP. */
  host: string;
  /** Which implementation answered, for messages. */
  name: string;
  /**
   * HTTP requests seen so far as "METHOD /path?query STATUS" lines, read from the registry's request log.
   * Tests use it only for extra observations (e.g. that a cross-repo mount happened), never as sole proof.
   */
  requests?(): string[] | undefined;
  stop(): Promise<void>;
}

export async function startTargetRegistry(): Promise<TargetRegistry> {
  const { logger, lines } = requestLog();
  const registry = await startTestRegistry({ database: "postgres", logger });
  return {
    host: registry.host,
    name: "berth",
    requests: () => [...lines],
    stop: () => registry.stop(),
  };
}
