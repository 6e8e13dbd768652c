import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { buildApp } from "./app";
import type { Deps } from "./deps";

export interface RunningServer {
  server: Server;
  /** "127.0.0.1:PORT" as bound (the real port when asked for port 0). */
  address: string;
  /** Stops accepting, lets in-flight requests finish (up to the timeout), then releases everything. */
  stop(): Promise<void>;
}

export async function startServer(deps: Deps): Promise<RunningServer> {
  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 }, buildApp(deps));
  const { host, port } = splitListen(deps.config.listen);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const address = `${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`;
  let stopping: Promise<void> | null = null;
  const stop = () => (stopping ??= shutdown(server, deps));
  return { server, address, stop };
}

async function shutdown(server: Server, deps: Deps): Promise<void> {
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
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(listen.slice(i + 1)) };
}
