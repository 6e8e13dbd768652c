#!/usr/bin/env node
/**
 * The container HEALTHCHECK: GET /healthz on this process's own listener (from the same configuration
 * Berth reads: BERTH_* variables and BERTH_CONFIG), over HTTPS when TLS is configured. Exit 0 when it
 * answers 200, else 1. Small and dependency-light on purpose: it runs every 30 s.
 */
import http from "node:http";
import https from "node:https";
import { loadConfig } from "../config";
import { unbracketHost } from "../kernel/addresses";

function main(): void {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(`healthcheck: ${(err as Error).message}`);
    process.exit(1);
  }
  const i = config.listen.lastIndexOf(":");
  const bound = unbracketHost(config.listen.slice(0, i));
  // A wildcard address is reached on loopback.
  const host = bound === "0.0.0.0" ? "127.0.0.1" : bound === "::" ? "::1" : bound;
  const client = config.tls ? https : http;
  const req = client.get(
    // The certificate names the public host, not loopback: this probe checks liveness, not the certificate.
    { host, port: Number(config.listen.slice(i + 1)), path: "/healthz", timeout: 4000, rejectUnauthorized: false },
    (res) => {
      res.resume();
      process.exit(res.statusCode === 200 ? 0 : 1);
    },
  );
  req.on("timeout", () => req.destroy(new Error("no answer within 4 s")));
  req.on("error", (err) => {
    console.error(`healthcheck: ${err.message}`);
    process.exit(1);
  });
}

main();
