import { createDeps, createLogger } from "../deps";
import { openDatabase } from "../metadata/database";
import { startServer } from "../server";
import { keyCommand, projectCommand, robotCommand, userCommand } from "./account-commands";
import { UsageError, type Command } from "./command";
import { unexpectedArgument } from "./global-options";
import { Warmer } from "../proxy/warmer";
import { gcCommand } from "./gc-command";
import { doctorCommand } from "./doctor";
import { mirrorWarmedEvent } from "../events/admin-events";
import { CLI_ACTOR } from "../events/vocabulary";
import { anonymousMirrorPullWarning } from "../config";

const serve: Command = {
  summary: "run the registry (migrates the database first)",
  async run(config, args) {
    if (args.length) throw new UsageError(unexpectedArgument(args[0]));
    const logger = createLogger(config);
    const deps = await createDeps(config, logger);
    const running = await startServer(deps);
    logger.info(
      { address: running.address, database: deps.database.kind, storage: deps.storage.name, dataDir: config.dataDir, auth: config.auth.enabled, redirect: running.redirectAddress },
      `Berth listening on ${running.protocol}://${running.address}`,
    );
    const anonymousPull = anonymousMirrorPullWarning(config);
    if (anonymousPull) logger.warn(anonymousPull);
    // Logs each schedule it arms (the configured one, or one set in the UI later).
    deps.gc.startSchedule();
    if (config.tls) process.on("SIGHUP", () => running.reloadTls());
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
    return null;
  },
};

const migrate: Command = {
  summary: "apply pending database migrations and exit",
  async run(config, args) {
    if (args.length) throw new UsageError(unexpectedArgument(args[0]));
    const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
    await database.close();
    console.log(`database (${database.kind}) is up to date`);
    return 0;
  },
};

const mirror: Command = {
  summary: "mirror mode: warm <image>… pre-fetches images into the cache",
  usage: "berth mirror warm <image>…   (e.g. nginx:1.27, library/alpine@sha256:…, ghcr.io/owner/img:tag)",
  async run(config, args) {
    const [sub, ...images] = args;
    if (sub !== "warm" || !images.length) throw new UsageError(mirror.usage!);
    const deps = await createDeps(config, createLogger({ logLevel: "warn", logFormat: config.logFormat }));
    try {
      if (!deps.mirror) throw new UsageError("no mirror upstream is configured (mirror.upstreams or BERTH_MIRROR_UPSTREAM)");
      const warmer = new Warmer(deps.services.manifests, deps.services.blobs);
      for (const image of images) {
        const r = await warmer.warm(image);
        deps.events.record({ ...mirrorWarmedEvent(r), actor: CLI_ACTOR });
        console.log(`${r.image}: ${r.manifests} manifests, ${r.blobs} blobs, ${r.bytes} bytes cached`);
      }
    } finally {
      await deps.close();
    }
    return 0;
  },
};

export const COMMANDS: Record<string, Command> = {
  serve,
  migrate,
  user: userCommand,
  robot: robotCommand,
  project: projectCommand,
  key: keyCommand,
  mirror,
  gc: gcCommand,
  doctor: doctorCommand,
};
