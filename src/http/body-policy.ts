import type { IncomingMessage } from "node:http";
import type { Config } from "../config";

/**
 * What a route accepts as a request body, declared where the route is registered (src/http/route-table.ts)
 * and enforced before its handler runs (src/ops/request-ops.ts):
 * - none: no body expected; one sent anyway is held to http.maxBodyBytes and must arrive within
 *   http.requestTimeoutSeconds (slow-loris bodies on small routes).
 * - small: a body read whole (JSON, a form, a manifest) of at most maxBytes (and http.maxBodyBytes),
 *   under the same whole-request timeout.
 * - stream: a body streamed to storage (blob uploads, image imports): its own byte limit, no whole-request
 *   timeout (a large push takes as long as it takes), only the connection's idle timeout.
 */
export type BodyPolicy =
  | { kind: "none" }
  | { kind: "small"; maxBytes: number }
  | { kind: "stream"; maxBytes: (limits: BodyLimitsConfig, req: IncomingMessage) => number; setting: string };

export type BodyLimitsConfig = Pick<Config, "http" | "web">;

export const NO_BODY: BodyPolicy = { kind: "none" };

export function smallBody(maxBytes: number): BodyPolicy {
  return { kind: "small", maxBytes };
}

/**
 * `maxBytes` is read from the configuration per request (it may depend on the request, e.g. its content
 * type); 0 means no limit. `setting` names the configuration key in the 413 a client gets.
 */
export function streamedBody(setting: string, maxBytes: (limits: BodyLimitsConfig, req: IncomingMessage) => number): BodyPolicy {
  return { kind: "stream", maxBytes, setting };
}
