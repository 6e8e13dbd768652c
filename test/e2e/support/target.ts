// The registry under test. Every e2e file gets its registry from here: Berth, on a fresh database of the
// run's real Postgres and a temp data dir. (cncf-registry.ts keeps the reference registry for benchmarks.)
import { Writable } from "node:stream";
import pino from "pino";
import { startTestRegistry } from "../../support/registry";

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
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString("utf8").split("\n")) {
        if (!text) continue;
        const entry = JSON.parse(text) as { msg?: string; method?: string; url?: string; status?: number };
        if (entry.msg === "request") lines.push(`${entry.method} ${entry.url} ${entry.status}`);
      }
      callback();
    },
  });
  const registry = await startTestRegistry({ database: "postgres", logger: pino({ level: "info" }, sink) });
  return {
    host: registry.host,
    name: "berth",
    requests: () => [...lines],
    stop: () => registry.stop(),
  };
}
