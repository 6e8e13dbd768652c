import type { ErrorRequestHandler, Express, Request, RequestHandler, Response } from "express";
import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * The registry API (/v2) served by the same middleware, routes and error renderer as the rest of the
 * express application, but without express's per-request machinery. Why (issue 13's benchmark gate): with
 * the prototype swap already avoided (http/server-classes.ts) and the /v2 routes one dispatching layer,
 * a quiet-machine bench still put cached manifest GETs, blob HEADs and manifest PUTs 30–50 % below the
 * pre-express build (171 vs 112 µs of server CPU per manifest request); what remained was express's own
 * per-request path — app.handle allocating a final handler, the router parsing the URL and walking every
 * app.use layer with a `next` closure each, and its async bookkeeping. The lane runs the same list of
 * middleware directly (A/B on GET by tag, c8, 2–3 alternations on a loaded machine: 175–253 µs with the
 * lane vs 245–292 µs without). Nothing in the /v2 chain uses express's request or response helpers
 * beyond `path`, `originalUrl`, `req.res` and `res.locals`, which are provided here.
 */
export function laneUnder(prefix: string, stack: RequestHandler[], onError: ErrorRequestHandler[]) {
  const run = (rawReq: IncomingMessage, rawRes: ServerResponse): void => {
    const req = rawReq as Request;
    const res = rawRes as Response;
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    req.originalUrl = url;
    req.res = res;
    // express's request prototype (http/server-classes.ts) answers `path`; a plain IncomingMessage has none.
    if (!("path" in req)) Object.defineProperty(req, "path", { value: query === -1 ? url : url.slice(0, query) });
    res.locals = Object.create(null) as Response["locals"];
    let index = 0;
    let failed = false;
    // The error handlers in order, as express runs them: each passes the error on with next(err).
    const fail = (err: unknown, at = 0): void => {
      if (at === 0) {
        if (failed) return;
        failed = true;
      }
      const handler = onError[at];
      if (!handler) return void res.destroy();
      try {
        handler(err, req, res, (passed?: unknown) => fail(passed ?? err, at + 1));
      } catch (thrown) {
        fail(thrown, at + 1);
      }
    };
    const next = (err?: unknown): void => {
      if (err !== undefined && err !== null) return fail(err);
      const layer = stack[index++];
      // The stack ends with a handler that always answers (the 404); running past it is a bug, not a request.
      if (!layer) return fail(new Error(`the ${prefix} lane ran past its last handler`));
      try {
        const result = layer(req, res, next) as unknown;
        // express 5 forwards a rejected promise from a middleware to the error handler; so does the lane.
        if (result && typeof (result as Promise<void>).then === "function") (result as Promise<void>).then(undefined, next);
      } catch (thrown) {
        next(thrown);
      }
    };
    next();
  };
  return {
    /** True for a request this lane serves: the prefix itself or a path under it (query aside). */
    serves(url: string | undefined): boolean {
      if (!url?.startsWith(prefix)) return false;
      const after = url.charCodeAt(prefix.length);
      // end of the URL, "/" or "?"
      return Number.isNaN(after) || after === 47 || after === 63;
    },
    run,
  };
}

/** Puts the lane in front of an express application: its requests never enter express's `handle`. */
export function mountLane(app: Express, lane: ReturnType<typeof laneUnder>): void {
  const target = app as unknown as { handle(req: IncomingMessage, res: ServerResponse, done?: unknown): void };
  const handle = target.handle;
  target.handle = function (req, res, done) {
    if (lane.serves(req.url)) return lane.run(req, res);
    return handle.call(this, req, res, done);
  };
}
