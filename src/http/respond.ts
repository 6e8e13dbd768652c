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

/**
 * Reads a whole (small) request body, refusing more than `limit` bytes with 413 before buffering them.
 * On refusal the request is paused, not destroyed (as leaving a for-await loop would): the 413 must still
 * reach the client, on a connection the error renderer then closes.
 */
export function readSmallBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total <= limit) return void chunks.push(chunk);
      req.pause();
      settle(() => reject(tooLarge(limit)));
    };
    const onEnd = () => settle(() => resolve(Buffer.concat(chunks, total)));
    const onError = (err: Error) => settle(() => reject(err));
    const settle = (then: () => void) => {
      req.off("data", onData).off("end", onEnd).off("error", onError);
      then();
    };
    req.on("data", onData).on("end", onEnd).on("error", onError);
  });
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
