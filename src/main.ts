#!/usr/bin/env node
import { COMMANDS } from "./cli/commands";
import { UsageError } from "./cli/command";
import { ConfigError, loadConfig } from "./config";
import { DomainError } from "./kernel/errors";
import { unknownOption, VALUE_OPTIONS } from "./cli/global-options";

const USAGE = `Berth — a private container registry

Usage: berth [global options] <command> [arguments]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join("\n")}

Global options:
  --listen HOST:PORT   address to listen on        (env BERTH_LISTEN, default 127.0.0.1:5000)
  --port PORT          shorthand for --listen 127.0.0.1:PORT
  --data-dir DIR       data directory              (env BERTH_DATA_DIR, default ./data)
  --config FILE        YAML configuration file     (env BERTH_CONFIG)
  --no-auth            an open registry, no login  (env BERTH_AUTH=off)
  --log-format FORMAT  auto, json or pretty        (env BERTH_LOG_FORMAT, default auto: pretty on a terminal)
  -h, --help           show this help (berth <command> --help for the command's own)

The database is DATABASE_URL (postgres://…) when set, else an embedded Postgres under the data directory.
See docs/configuration.md for every setting.`;

async function main(argv: string[]): Promise<number | null> {
  const env = { ...process.env };
  const rest: string[] = [];
  let help = false;
  let port: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.split(/=(.*)/s, 2);
    if (arg === "-h" || arg === "--help") help = true;
    else if (arg === "--no-auth") env.BERTH_AUTH = "off";
    else if (flag in VALUE_OPTIONS || flag === "--port") {
      const value = inline ?? argv[++i];
      if (value === undefined) return usageError(`${flag} needs a value`);
      if (flag === "--port") port = value;
      else env[VALUE_OPTIONS[flag]] = value;
    } else rest.push(arg);
  }
  if (port !== undefined) {
    // Only a shorthand: with --listen too, which host was meant is a guess.
    if (argv.some((a) => a === "--listen" || a.startsWith("--listen="))) return usageError("give --listen HOST:PORT or --port PORT, not both");
    env.BERTH_LISTEN = `127.0.0.1:${port}`;
  }
  const [name, ...args] = rest;
  if (name?.startsWith("-")) return usageError(unknownOption(name));
  if (help && !name) {
    console.log(USAGE);
    return 0;
  }
  const command = COMMANDS[name ?? "serve"];
  if (!command) return usageError(`unknown command ${name}`);
  if (help) {
    console.log(`${command.summary}\n\n${command.usage ?? `berth ${name}`}`);
    return 0;
  }
  try {
    return await command.run(loadConfig(env), args);
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message);
    if (err instanceof UsageError) return usageError(err.message);
    if (err instanceof DomainError) return fail(`berth: ${String(err.detail ?? err.message)}`, 1);
    if (err instanceof TypeError && (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) return usageError(err.message);
    throw err;
  }
}

function fail(message: string, code = 2): number {
  console.error(message);
  return code;
}

function usageError(message: string): number {
  return fail(`berth: ${message}\n\nRun berth --help for usage.`);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== null) process.exit(code);
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
