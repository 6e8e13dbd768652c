import { createColors, isColorSupported } from "colorette";
import pino, { type DestinationStream } from "pino";
import { prettyFactory } from "pino-pretty";
import type { Config } from "../config";

/**
 * Where pino's lines go. JSON lines are what log collectors and tests read; a person at a terminal gets
 * pino-pretty's lines instead, with request entries cut to one short line (there is one per request) and
 * entries marked `banner: true` (the first admin's password) drawn in a box so they are not scrolled past.
 */
export function logDestination(format: Config["logFormat"], stdoutIsTerminal = Boolean(process.stdout.isTTY)): DestinationStream | undefined {
  if (format === "json" || (format === "auto" && !stdoutIsTerminal)) return undefined; // pino's own JSON on stdout
  // Synchronous, as pino's default stdout is: `berth serve` exits with process.exit, which must not lose lines.
  return prettyLogStream(pino.destination({ dest: 1, sync: true }), { colorize: isColorSupported });
}

export function prettyLogStream(out: { write(text: string): unknown }, options: { colorize: boolean; width?: number }): DestinationStream {
  const prettify = prettyFactory({ colorize: options.colorize, translateTime: "SYS:HH:MM:ss.l", singleLine: true, ignore: "banner" });
  const colors = createColors({ useColor: options.colorize });
  const width = options.width ?? Math.min(process.stdout.columns || 80, 100);
  return {
    write(line: string) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry.banner === true) out.write(box(String(entry.msg), width, (text) => colors.bold(colors.yellow(text))));
      else if (entry.msg === "request" && typeof entry.method === "string") out.write(prettify(requestLine(entry)));
      else out.write(prettify(entry));
    },
  };
}

/** "GET /v2/team/app/manifests/1 200 3.1 ms": what a person scanning a terminal wants of a request entry. */
function requestLine(entry: Record<string, unknown>): Record<string, unknown> {
  const aborted = entry.aborted ? " (aborted)" : "";
  return { level: entry.level, time: entry.time, msg: `${entry.method} ${entry.url} ${entry.status} ${entry.ms} ms${aborted}` };
}

function box(message: string, width: number, paint: (text: string) => string): string {
  const inner = Math.max(20, width - 4);
  const lines = wrap(message, inner);
  const size = Math.max(...lines.map((l) => l.length));
  const rule = "─".repeat(size + 2);
  const body = lines.map((l) => paint(`│ ${l.padEnd(size)} │`));
  return `\n${[paint(`┌${rule}┐`), ...body, paint(`└${rule}┘`)].join("\n")}\n\n`;
}

/** Word-wraps at spaces; a word longer than the width (a password) keeps a line of its own, unbroken. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = "";
  for (const word of text.split(" ")) {
    if (current && current.length + 1 + word.length > width) {
      lines.push(current);
      current = word;
    } else current = current ? `${current} ${word}` : word;
  }
  lines.push(current);
  return lines;
}
