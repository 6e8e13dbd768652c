import { createReadStream, existsSync } from "node:fs";
import { stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import type { RequestHandler } from "express";
import helmet from "helmet";
import { send } from "../http/respond";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2",
};

/**
 * The paths the UI owns: its files and the single-page app's own routes (served index.html). Everything
 * else — the registry, token and JSON APIs, and unknown paths — keeps the registry's JSON 404.
 */
const UI_PATHS = /^\/(?:$|index\.html$|favicon\.svg$|assets\/|(?:login|repositories|projects|users|robots|audit|mirror|storage|import|settings)(?:\/|$))/;

/**
 * helmet's headers with the UI's strict policy: nothing but its own scripts, styles and API, never framed.
 * HSTS is left to whoever terminates TLS (Berth is often reached over plain HTTP inside a network).
 */
const securityHeaders = helmet({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", "data:"],
      connectSrc: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      objectSrc: ["'none'"],
    },
  },
  referrerPolicy: { policy: "same-origin" },
  xFrameOptions: { action: "deny" },
  strictTransportSecurity: false,
});

/**
 * The UI as one middleware: GET/HEAD of the UI's own paths, after `guard` (the body policy of routes
 * without a body) and the security headers; anything else passes on to the 404.
 */
export function webUi(guard: RequestHandler | null, web = WebStatic.default()): RequestHandler {
  return (req, res, next) => {
    if (!web.serves(req.method, req.path)) return next();
    res.locals.route = "{web-ui}";
    const serve = (err?: unknown) => (err ? next(err) : securityHeaders(req, res, (err?: unknown) => (err ? next(err) : web.serve(req, res, req.path).catch(next))));
    if (guard) guard(req, res, serve);
    else serve();
  };
}

/** The built web UI (web/dist), at / with a fallback to index.html for the single-page app's own paths. */
export class WebStatic {
  constructor(readonly root: string) {}

  /** web/dist beside the package: dist/web/static.js and src/web/static.ts both sit two levels down. */
  static default(): WebStatic {
    return new WebStatic(path.resolve(__dirname, "../../web/dist"));
  }

  serves(method: string | undefined, urlPath: string): boolean {
    return (method === "GET" || method === "HEAD") && UI_PATHS.test(urlPath);
  }

  async serve(req: IncomingMessage, res: ServerResponse, urlPath: string): Promise<void> {
    let decoded: string;
    try {
      decoded = decodeURIComponent(urlPath);
    } catch {
      decoded = "/";
    }
    const file = path.resolve(this.root, `.${path.posix.normalize(decoded)}`);
    const inside = file.startsWith(this.root + path.sep);
    const info = inside ? await stat(file).catch(() => null) : null;
    if (info?.isFile()) return this.sendFile(req, res, file, info.size, /\/assets\//.test(urlPath));
    // A missing asset is a real 404; anything else is a route of the app itself.
    if (/^\/(assets\/|favicon\.svg$)/.test(urlPath)) {
      return send(res, 404, { "Content-Type": "text/plain; charset=utf-8" }, "not found\n");
    }
    const index = path.join(this.root, "index.html");
    const indexInfo = await stat(index).catch(() => null);
    if (!indexInfo) {
      return send(res, 503, { "Content-Type": "text/plain; charset=utf-8" }, "The web UI is not built: run `npm run build` (or `npm run build:web`).\n");
    }
    return this.sendFile(req, res, index, indexInfo.size, false);
  }

  private sendFile(req: IncomingMessage, res: ServerResponse, file: string, size: number, immutable: boolean): void {
    res.statusCode = 200;
    const headers: Record<string, string | number> = {
      "Content-Type": TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream",
      "Content-Length": size,
      // Built assets carry a content hash in their names; index.html must be revalidated to pick up new ones.
      "Cache-Control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
    };
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    createReadStream(file).on("error", (err) => res.destroy(err)).pipe(res);
  }

  get built(): boolean {
    return existsSync(path.join(this.root, "index.html"));
  }
}
