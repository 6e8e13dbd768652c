// globalSetup and globalTeardown run in the same jest process, so the server handle is passed on globalThis.
import type { PostgresServer } from "./postgres";

export default async function globalTeardown(): Promise<void> {
  const holder = globalThis as { __berthPostgres?: PostgresServer };
  const server = holder.__berthPostgres;
  if (!server) return;
  holder.__berthPostgres = undefined;
  // So that a later run in this process (watch mode) starts a new server instead of reusing a dead URL.
  delete process.env.BERTH_TEST_PG_URL;
  await server.stop(); // also removes its temp dir
}
