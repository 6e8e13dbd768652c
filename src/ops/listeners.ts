import { readFileSync } from "node:fs";
import http, { type RequestListener } from "node:http";
import https from "node:https";
import type { Logger } from "pino";
import type { Config } from "../config";
import { ConfigError } from "../config";
import type { TlsConfig } from "../config/ops";
import type { Socket } from "node:net";
import { normalizeAddress, TrustedProxies } from "../http/client-info";
import { OciError } from "../http/errors";

export type BerthServer = http.Server | https.Server;

/**
 * The main listener: HTTPS when `tls` is configured, else plain HTTP, with the configured header limit and
 * slow-client timeouts. `requestTimeout` is left to RequestOps (it must spare blob uploads, which Node's
 * own whole-request timeout would cut); `timeout` is the idle timeout of each connection. `classes`: the
 * request and response classes the listener wants (see src/http/server-classes.ts).
 */
export function createBerthServer(
  config: Pick<Config, "tls" | "http" | "trustedProxies">,
  listener: RequestListener,
  classes: Pick<http.ServerOptions, "IncomingMessage" | "ServerResponse"> = {},
): BerthServer {
  const { http: limits } = config;
  const headersTimeout = limits.headersTimeoutSeconds * 1000;
  const options: http.ServerOptions = {
    ...classes,
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout,
    // Node checks headersTimeout only every connectionsCheckingInterval (30 s by default): a socket that
    // sends nothing must go within about headersTimeoutSeconds, not half a minute later.
    connectionsCheckingInterval: Math.min(1000, headersTimeout / 2),
    requestTimeout: 0,
    keepAliveTimeout: limits.keepAliveTimeoutSeconds * 1000,
  };
  const refused = new WeakSet<Socket>();
  const guarded: RequestListener = (req, res) => {
    // A refused connection's bytes may still reach the parser before the socket is gone: never serve them.
    if (refused.has(req.socket)) return void req.socket.destroy();
    listener(req, res);
  };
  const server = config.tls
    ? https.createServer({ ...options, ...readTls(config.tls), handshakeTimeout: headersTimeout }, guarded)
    : http.createServer(options, guarded);
  server.timeout = limits.idleTimeoutSeconds * 1000;
  capConnections(server, config, refused);
  awaitFirstRequest(server, headersTimeout, config.tls ? "secureConnection" : "connection");
  return server;
}

/**
 * Node's headersTimeout starts with the first byte of a request: a socket that sends nothing at all would
 * stay until the idle timeout (minutes). Here a new connection must bring its first request head within
 * headersTimeoutSeconds (after the TLS handshake, itself bounded by the same time); later requests on a
 * kept-alive connection are Node's keepAliveTimeout and headersTimeout's.
 */
function awaitFirstRequest(server: BerthServer, timeoutMs: number, event: "connection" | "secureConnection"): void {
  const firstSeen = new WeakSet<Socket>();
  // The socket's own inactivity timeout, which the server answers by closing the connection: shortened
  // until the first request arrives, then back to the idle timeout.
  server.on(event, (socket: Socket) => socket.setTimeout(timeoutMs));
  server.on("request", (req: http.IncomingMessage) => {
    if (!firstSeen.has(req.socket)) req.socket.setTimeout(server.timeout);
    firstSeen.add(req.socket);
  });
}

const BUSY = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n";

/**
 * Caps open connections in total and per peer address (http.maxConnections, maxConnectionsPerAddress), so a
 * few hundred idle sockets cannot take every file descriptor. Counted on the socket before any request
 * exists, hence by the socket's peer — the one place besides src/http/client-info.ts that reads it. A
 * trusted proxy's connections carry many clients and are only counted in the total. Over a cap, plain
 * HTTP gets a 503 and the connection is closed; HTTPS (no handshake yet) is closed at once.
 * Not `server.maxConnections`: Node drops the socket without a word, and has no per-address cap.
 */
function capConnections(server: BerthServer, config: Pick<Config, "tls" | "http" | "trustedProxies">, refused: WeakSet<Socket>): void {
  const { maxConnections, maxConnectionsPerAddress } = config.http;
  const proxies = new TrustedProxies(config.trustedProxies);
  const perAddress = new Map<string, number>();
  let total = 0;
  server.prependListener("connection", (socket: Socket) => {
    const peer = normalizeAddress(socket.remoteAddress ?? "");
    const counted = maxConnectionsPerAddress > 0 && !proxies.trusts(peer);
    const mine = counted ? (perAddress.get(peer) ?? 0) : 0;
    const over = maxConnections > 0 && total >= maxConnections ? "the server" : counted && mine >= maxConnectionsPerAddress ? "your address" : null;
    if (over) {
      refused.add(socket);
      if (config.tls) return void socket.destroy();
      const body = JSON.stringify(new OciError("UNAVAILABLE", `too many open connections from ${over}`).toBody());
      socket.end(`${BUSY}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, () => socket.destroy());
      return;
    }
    total++;
    if (counted) perAddress.set(peer, mine + 1);
    socket.once("close", () => {
      total--;
      if (!counted) return;
      const left = (perAddress.get(peer) ?? 1) - 1;
      if (left > 0) perAddress.set(peer, left);
      else perAddress.delete(peer);
    });
  });
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
