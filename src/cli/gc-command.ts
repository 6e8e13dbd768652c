import { parseArgs } from "node:util";
import { DurationError, parseDuration } from "../config/duration";
import { LiveSettings } from "../metadata/live-settings";
import { GcBusyError, GcService } from "../gc/gc-service";
import { formatReport } from "../gc/report";
import { openDatabase, type Database } from "../metadata/database";
import { createStores } from "../metadata/stores";
import { createStorageDriver } from "../storage/factory";
import { auditedEvents, createLogger } from "../deps";
import { UsageError, type Command } from "./command";

export const gcCommand: Command = {
  summary: "collect garbage now: apply retention rules, evict over the mirror cache limit, delete dangling manifests, unused blobs, stale uploads",
  usage: `berth gc [--dry-run] [--grace 1h] [--no-untagged] [--no-retention] [--json]
  --dry-run       report what would be deleted and evicted (counts, bytes, per repository), delete nothing
  --grace D       spare what was pushed or used more recently (default gc.grace, 1h)
  --no-untagged   keep untagged manifests (and what they reference)
  --no-retention  do not apply the retention rules this time
  --json          print the report as JSON`,
  async run(config, args) {
    const { values, positionals } = parseArgs({
      args,
      options: {
        "dry-run": { type: "boolean" },
        grace: { type: "string" },
        "no-untagged": { type: "boolean" },
        "no-retention": { type: "boolean" },
        json: { type: "boolean" },
      },
      allowPositionals: true,
    });
    if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}`);
    let graceMs: number | undefined;
    if (values.grace !== undefined) {
      try {
        graceMs = parseDuration(values.grace);
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
    // The run is recorded (as the `berth` command's) in the audit log, like the server's runs.
    const stores = createStores(database);
    const { events, audit } = auditedEvents(stores, createLogger({ logLevel: "warn", logFormat: config.logFormat }));
    // Grace and untagged as an administrator set them in the UI, read once for this run.
    const settings = new LiveSettings(stores.settings);
    await settings.refresh();
    const gc = new GcService({ stores, storage: createStorageDriver(config), config, events, settings });
    // Ctrl-C stops at the next batch boundary; what was committed stays, and the report says "interrupted".
    const interrupt = () => void gc.close();
    process.once("SIGINT", interrupt);
    process.once("SIGTERM", interrupt);
    try {
      const report = await gc.collect({
        trigger: "cli",
        dryRun: values["dry-run"] === true,
        graceMs,
        untagged: values["no-untagged"] ? false : undefined,
        retention: values["no-retention"] ? false : undefined,
        onProgress: (p) =>
          console.error(
            `gc: ${p.phase}: ${p.tagsDeleted} tags, ${p.manifestsDeleted} manifests, ${p.linksDeleted} links, ` +
              `${p.blobsDeleted} blobs, ${p.uploadsDeleted} uploads deleted so far`,
          ),
      });
      console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
      return report.status === "succeeded" ? 0 : report.status === "interrupted" ? 130 : 1;
    } catch (err) {
      if (!(err instanceof GcBusyError)) throw err;
      console.error(`berth gc: ${err.message}; try again when it has finished`);
      return 3;
    } finally {
      process.off("SIGINT", interrupt);
      process.off("SIGTERM", interrupt);
      await gc.close();
      await audit.close();
      await database.close();
    }
  },
};
