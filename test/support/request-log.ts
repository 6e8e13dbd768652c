// A registry's request log as "METHOD url STATUS" lines, read from the pino output it writes: lets a test
// see which requests a real client sent (a mount, a ?ns= query) without a proxy in between. `entries` keeps
// every log entry, for tests that look for a warning.
import { Writable } from "node:stream";
import pino from "pino";

export function requestLog(): { logger: pino.Logger; lines: string[]; entries: Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const entries: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString("utf8").split("\n")) {
        if (!text) continue;
        const entry = JSON.parse(text) as { msg?: string; method?: string; url?: string; status?: number };
        entries.push(entry);
        if (entry.msg === "request") lines.push(`${entry.method} ${entry.url} ${entry.status}`);
      }
      callback();
    },
  });
  return { logger: pino({ level: "info" }, sink), lines, entries };
}
