import type { Config } from "../config";
import { createDeps, createLogger } from "../deps";
import { DurationError, parseDuration } from "../gc/duration";
import { GcBusyError, GcService } from "../gc/gc-service";
import { formatReport } from "../gc/report";
import { openDatabase, type Database } from "../metadata/database";
import { startServer } from "../server";
import { createStorageDriver } from "../storage/factory";

export interface Command {
  summary: string;
  /** Options after the command's name; `value` names the argument of those that take one. */
  options?: Record<string, { value?: string; help: string }>;
  /** Resolves with the exit code, or nothing for a command that keeps running (serve). */
  run(config: Config, options: Record<string, string | true>): Promise<number | void>;
}

/** A bad command-line argument: reported with exit code 2, like unknown options. */
export class UsageError extends Error {
  override name = "UsageError";
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
      const nextGc = deps.gc.startSchedule();
      if (nextGc) logger.info({ schedule: config.gc.schedule, next: nextGc.toISOString() }, "garbage collection scheduled");
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
  gc: {
    summary: "collect garbage now: apply retention rules, delete dangling manifests, unused blobs, stale uploads",
    options: {
      "--dry-run": { help: "report what would be deleted (counts, bytes, per repository), delete nothing" },
      "--grace": { value: "DURATION", help: "spare what was pushed or used more recently (default gc.grace, 1h)" },
      "--no-untagged": { help: "keep untagged manifests (and what they reference)" },
      "--no-retention": { help: "do not apply the retention rules this time" },
      "--json": { help: "print the report as JSON" },
    },
    async run(config, options) {
      let graceMs: number | undefined;
      if (typeof options["--grace"] === "string") {
        try {
          graceMs = parseDuration(options["--grace"]);
        } catch (err) {
          if (err instanceof DurationError) throw new UsageError(`berth gc: --grace: ${err.message}`);
          throw err;
        }
      }
      let database: Database;
      try {
        database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
      } catch (err) {
        const message = (err as Error).message;
        if (!/is in use by process/.test(message)) throw err;
        // PGlite is in-process: while a server has it open, only that server can collect.
        console.error(`berth gc: ${message}. Stop the server first, or let the server collect on its schedule (gc.schedule).`);
        return 1;
      }
      const gc = new GcService({ database, storage: createStorageDriver(config), config });
      // Ctrl-C stops at the next batch boundary; what was committed stays, and the report says "interrupted".
      const interrupt = () => void gc.close();
      process.once("SIGINT", interrupt);
      process.once("SIGTERM", interrupt);
      try {
        const report = await gc.collect({
          trigger: "cli",
          dryRun: options["--dry-run"] === true,
          graceMs,
          untagged: options["--no-untagged"] === true ? false : undefined,
          retention: options["--no-retention"] === true ? false : undefined,
          onProgress: (p) =>
            console.error(
              `gc: ${p.phase}: ${p.tagsDeleted} tags, ${p.manifestsDeleted} manifests, ${p.linksDeleted} links, ` +
                `${p.blobsDeleted} blobs, ${p.uploadsDeleted} uploads deleted so far`,
            ),
        });
        console.log(options["--json"] === true ? JSON.stringify(report, null, 2) : formatReport(report));
        return report.status === "succeeded" ? 0 : report.status === "interrupted" ? 130 : 1;
      } catch (err) {
        if (!(err instanceof GcBusyError)) throw err;
        console.error(`berth gc: ${err.message}; try again when it has finished`);
        return 3;
      } finally {
        process.off("SIGINT", interrupt);
        process.off("SIGTERM", interrupt);
        await gc.close();
        await database.close();
      }
    },
  },
};
