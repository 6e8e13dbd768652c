import type { ErrorRequestHandler, RequestHandler } from "express";
import type { Logger } from "pino";
import { OciError, toOciError } from "./errors";
import { hasBody, sendJson } from "./respond";
import { lingeringClose } from "./lingering-close";

/**
 * The one place errors become responses. /v2 speaks the OCI error format; the JSON API (/api, /token,
 * /v1/search) and the rest answer in the same envelope ({"errors":[{code,message,detail}]}), which is
 * what the web client (web/src/api.ts) reads, so both sides share one renderer.
 */
export function errorHandler(logger: Logger, observe?: (err: unknown) => void): ErrorRequestHandler {
  return (err, req, res, _next) => {
    observe?.(err);
    const error = toOciError(fromExpress(err));
    if (error.status >= 500) logger.error({ err: error.cause ?? err, code: error.code }, "request failed");
    if (res.headersSent) {
      // Mid-stream failure: the only honest signal left is to cut the connection.
      res.destroy(error);
      return;
    }
    // Answered before the body was all in (read half-way, or refused unread): end the connection after
    // answering rather than read a body of any size to its end, lingering so the answer is not lost.
    // (A small body that has fully arrived is complete already and keeps the connection.)
    if (!req.complete && (req.readableDidRead || hasBody(req))) lingeringClose(req, res);
    sendJson(res, error.status, error.headers, error.toBody());
  };
}

/** No route knows the path: the registry's JSON 404. */
export const notFound: RequestHandler = (req, _res, next) => next(new OciError("NOT_FOUND", { path: req.path.slice(0, 200) }));

/**
 * Errors raised by express or its middleware (a malformed percent-escape, a refused body) carry a 4xx
 * `status` meant for the client: they are bad requests, not internal failures.
 */
function fromExpress(err: unknown): unknown {
  if (err instanceof OciError) return err;
  const status = (err as { status?: unknown } | null)?.status;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return new OciError("INVALID_REQUEST", (err as Error).message, { status, cause: err });
  }
  return err;
}
