import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { buildApp } from "./app";
import { expressServerClasses } from "./http/server-classes";
import type { Deps } from "./deps";
import { createBerthServer, createRedirectServer, reloadTls, type BerthServer } from "./ops/listeners";
import { unbracketHost } from "./kernel/addresses";

export interface RunningServer {
  server: BerthServer;
  /** "127.0.0.1:PORT" as bound (the real port when asked for port 0). */
  address: string;
  /** "https" when serving TLS. */
  protocol: "http" | "https";
  /** The plain-HTTP redirect listener's address (tls.redirectListen), when there is one. */
  redirectAddress?: string;
  /** Re-reads the TLS certificate and key (SIGHUP); a no-op without TLS. */
  reloadTls(): void;
  /** Stops accepting, lets in-flight requests finish (up to the timeout), then releases everything. */
  stop(): Promise<void>;
}

export async function startServer(deps: Deps): Promise<RunningServer> {
  const app = buildApp(deps);
  const server = createBerthServer(deps.config, app, expressServerClasses(app));
  const address = await listen(server, deps.config.listen);
  let redirect: Server | undefined;
  let redirectAddress: string | undefined;
  if (deps.config.tls?.redirectListen) {
    try {
      redirect = createRedirectServer(deps.config, Number(address.slice(address.lastIndexOf(":") + 1)));
      redirectAddress = await listen(redirect, deps.config.tls.redirectListen);
    } catch (err) {
      server.close();
      throw err;
    }
  }
  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      redirect?.close();
      redirect?.closeAllConnections();
      await shutdown(server, deps);
    })());
  const tls = deps.config.tls;
  return {
    server,
    address,
    protocol: tls ? "https" : "http",
    redirectAddress,
    reloadTls: () => (tls ? reloadTls(server, tls, deps.logger) : undefined),
    stop,
  };
}

async function listen(server: BerthServer, listenAddress: string): Promise<string> {
  const { host, port } = splitListen(listenAddress);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return `${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`;
}

async function shutdown(server: BerthServer, deps: Deps): Promise<void> {
  // Readiness goes false at once, so load balancers stop sending while in-flight requests finish.
  deps.ops?.health.drain();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Keep-alive connections turn idle as their last request ends; close each as soon as it does.
  const reaper = setInterval(() => server.closeIdleConnections(), 50);
  server.closeIdleConnections();
  const timeout = deps.config.shutdownTimeoutSeconds * 1000;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeout)));
  await Promise.race([closed, expired]);
  clearTimeout(timer);
  clearInterval(reaper);
  // Whatever is still running after the grace period is cut; uploads resume from their last saved offset.
  server.closeAllConnections();
  await closed;
  await deps.close();
}

function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(":");
  return { host: unbracketHost(listen.slice(0, i)), port: Number(listen.slice(i + 1)) };
}
