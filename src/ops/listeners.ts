import { readFileSync } from "node:fs";
import http, { type RequestListener } from "node:http";
import https from "node:https";
import type { Logger } from "pino";
import type { Config } from "../config";
import { ConfigError } from "../config";
import type { TlsConfig } from "../config/ops";

export type BerthServer = http.Server | https.Server;

/**
 * The main listener: HTTPS when `tls` is configured, else plain HTTP, with the configured header limit and
 * slow-client timeouts. `requestTimeout` is left to RequestOps (it must spare blob uploads, which Node's
 * own whole-request timeout would cut); `timeout` is the idle timeout of each connection. `classes`: the
 * request and response classes the listener wants (see src/http/server-classes.ts).
 */
export function createBerthServer(
  config: Pick<Config, "tls" | "http">,
  listener: RequestListener,
  classes: Pick<http.ServerOptions, "IncomingMessage" | "ServerResponse"> = {},
): BerthServer {
  const { http: limits } = config;
  const options: http.ServerOptions = {
    ...classes,
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutSeconds * 1000,
    requestTimeout: 0,
    keepAliveTimeout: limits.keepAliveTimeoutSeconds * 1000,
  };
  const server = config.tls ? https.createServer({ ...options, ...readTls(config.tls) }, listener) : http.createServer(options, listener);
  server.timeout = limits.idleTimeoutSeconds * 1000;
  return server;
}

/** Reads the certificate and key (at start, and on reload): unreadable files are a configuration error. */
export function readTls(tls: TlsConfig): https.ServerOptions {
  const read = (key: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError(`invalid configuration:\n  tls.${key}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  return { cert: read("certFile", tls.certFile), key: read("keyFile", tls.keyFile), minVersion: tls.minVersion };
}

/** Re-reads the certificate and key into a running HTTPS server (SIGHUP): new connections use them. */
export function reloadTls(server: BerthServer, tls: TlsConfig, logger: Logger): void {
  try {
    (server as https.Server).setSecureContext(readTls(tls));
    logger.info({ certFile: tls.certFile }, "reloaded the TLS certificate and key");
  } catch (err) {
    logger.error({ err }, "could not reload the TLS certificate; still serving the previous one");
  }
}

/**
 * The plain-HTTP listener of `tls.redirectListen`: every request gets 308 to the same path over HTTPS —
 * at externalUrl when set, else at the requested host with the HTTPS port. 308 (unlike 301) keeps the
 * method and body, so even a misdirected push is redirected rather than turned into a GET.
 */
export function createRedirectServer(config: Pick<Config, "externalUrl" | "http">, httpsPort: number): http.Server {
  const server = http.createServer(
    {
      maxHeaderSize: config.http.maxHeaderBytes,
      headersTimeout: config.http.headersTimeoutSeconds * 1000,
      requestTimeout: Math.max(30, config.http.headersTimeoutSeconds) * 1000,
    },
    (req, res) => {
      const base = config.externalUrl ?? `https://${hostOnly(req.headers.host)}${httpsPort === 443 ? "" : `:${httpsPort}`}`;
      const location = `${base}${(req.url ?? "/").startsWith("/") ? req.url : "/"}`;
      res.writeHead(308, { Location: location, "Content-Length": 0, Connection: "close", "X-Content-Type-Options": "nosniff" });
      res.end();
    },
  );
  server.timeout = config.http.idleTimeoutSeconds * 1000;
  return server;
}

function hostOnly(host: string | undefined): string {
  const h = host && /^[A-Za-z0-9.-]+(:\d+)?$|^\[[0-9A-Fa-f:.]+\](:\d+)?$/.test(host) ? host : "localhost";
  return h.replace(/:\d+$/, "");
}
