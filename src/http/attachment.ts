import type { ServerResponse } from "node:http";

/** RFC 4180, and a leading =, +, - or @ made inert so a spreadsheet does not run it as a formula. */
export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** One CSV record (CRLF-terminated, as RFC 4180 has it). */
export function csvRecord(values: string[]): string {
  return `${values.map(csvField).join(",")}\r\n`;
}

/**
 * Streams a download chunk by chunk as its source yields them, waiting for the client to drain, and stops
 * reading the source when the client goes away (an export may span millions of rows).
 */
export async function writeAttachment(
  res: ServerResponse,
  head: { type: string; filename: string; first?: string },
  chunks: AsyncIterable<string>,
): Promise<void> {
  res.statusCode = 200;
  res.setHeader("Content-Type", head.type);
  res.setHeader("Content-Disposition", `attachment; filename="${head.filename}"`);
  res.setHeader("Cache-Control", "no-store");
  if (head.first) res.write(head.first);
  for await (const chunk of chunks) {
    if (res.destroyed) return;
    if (!res.write(chunk)) {
      await new Promise((resolve) => {
        res.once("drain", resolve);
        res.once("close", resolve);
      });
    }
  }
  res.end();
}
