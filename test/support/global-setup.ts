// One PostgreSQL server for the whole jest run; test files each create their own database on it
// (createTestDatabase), so they can run in parallel. Workers are forked after this runs and inherit
// process.env, which is how they learn the URL.
import { startPostgres, type PostgresServer } from "./postgres";

export default async function globalSetup(): Promise<void> {
  // A server given from outside (e.g. a CI service) is used as is, and left alone at teardown.
  if (process.env.BERTH_TEST_PG_URL) return;
  const server = await startPostgres();
  (globalThis as { __berthPostgres?: PostgresServer }).__berthPostgres = server;
  process.env.BERTH_TEST_PG_URL = server.adminUrl;
}
