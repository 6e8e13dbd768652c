import { createReadStream, existsSync } from "node:fs";
import { stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
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
const UI_PATHS = /^\/(?:$|index\.html$|favicon\.svg$|assets\/|(?:login|repositories|projects|users|robots|audit|mirror|storage|import)(?:\/|$))/;

const SECURITY_HEADERS = {
  "Content-Security-Policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "same-origin",
  "X-Frame-Options": "DENY",
};

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
      return send(res, 404, { "Content-Type": "text/plain; charset=utf-8", ...SECURITY_HEADERS }, "not found\n");
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
      ...SECURITY_HEADERS,
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
