import type { IncomingMessage, ServerResponse } from "node:http";
import { DomainError } from "../kernel/errors";

export type Headers = Record<string, string | number>;

export function send(res: ServerResponse, status: number, headers: Headers, body?: Buffer | string): void {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (body === undefined) {
    if (!res.hasHeader("Content-Length")) res.setHeader("Content-Length", 0);
    res.end();
    return;
  }
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, headers: Headers, value: unknown): void {
  send(res, status, { "Content-Type": "application/json", ...headers }, JSON.stringify(value));
}

/** Reads a whole (small) request body, refusing more than `limit` bytes with 413 before buffering them. */
export async function readSmallBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > limit) throw tooLarge(limit);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

function tooLarge(limit: number): DomainError {
  return new DomainError("TooLarge", `body larger than ${limit} bytes`);
}

/** True when the request carries a body (Content-Length > 0 or chunked transfer encoding). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  if (length !== undefined) return Number(length) > 0;
  return req.headers["transfer-encoding"] !== undefined;
}
