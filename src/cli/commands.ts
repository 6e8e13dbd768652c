import type { Config } from "../config";
import { createDeps, createLogger } from "../deps";
import { openDatabase } from "../metadata/database";
import { startServer } from "../server";

export interface Command {
  summary: string;
  run(config: Config): Promise<void>;
}

export const COMMANDS: Record<string, Command> = {
  serve: {
    summary: "run the registry (migrates the database first)",
    async run(config) {
      const logger = createLogger(config);
      const deps = await createDeps(config, logger);
      const running = await startServer(deps);
      logger.info(
        { address: running.address, database: deps.database.kind, storage: deps.storage.name, dataDir: config.dataDir },
        `Berth listening on http://${running.address}`,
      );
      const onSignal = (signal: string) => {
        logger.info({ signal }, "shutting down");
        running.stop().then(
          () => process.exit(0),
          (err) => {
            logger.error({ err }, "shutdown failed");
            process.exit(1);
          },
        );
      };
      process.once("SIGTERM", onSignal);
      process.once("SIGINT", onSignal);
    },
  },
  migrate: {
    summary: "apply pending database migrations and exit",
    async run(config) {
      const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
      await database.close();
      console.log(`database (${database.kind}) is up to date`);
    },
  },
};
