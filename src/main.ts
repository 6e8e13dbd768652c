#!/usr/bin/env node
import { COMMANDS, UsageError } from "./cli/commands";
import { ConfigError, loadConfig } from "./config";

const USAGE = `Berth — a private container registry

Usage: berth <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) =>
    [`  ${name.padEnd(10)} ${c.summary}`, ...Object.entries(c.options ?? {}).map(([flag, o]) => `      ${`${flag}${o.value ? ` ${o.value}` : ""}`.padEnd(22)} ${o.help}`)].join("\n"),
  )
  .join("\n")}

Options:
  --listen HOST:PORT   address to listen on        (env BERTH_LISTEN, default 127.0.0.1:5000)
  --data-dir DIR       data directory              (env BERTH_DATA_DIR, default ./data)
  --config FILE        YAML configuration file     (env BERTH_CONFIG)
  -h, --help           show this help

The database is DATABASE_URL (postgres://…) when set, else an embedded Postgres under the data directory.
See README.md for every setting.`;

const FLAGS: Record<string, string> = { "--listen": "BERTH_LISTEN", "--data-dir": "BERTH_DATA_DIR", "--config": "BERTH_CONFIG" };

async function main(argv: string[]): Promise<number> {
  const env = { ...process.env };
  const positional: string[] = [];
  const options: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") {
      console.log(USAGE);
      return 0;
    }
    const [flag, inline] = arg.split(/=(.*)/s, 2);
    if (flag in FLAGS) {
      const value = inline ?? argv[++i];
      if (value === undefined) return usageError(`${flag} needs a value`);
      env[FLAGS[flag]] = value;
    } else if (arg.startsWith("-")) {
      // Command options come after the command's name: `berth gc --dry-run`.
      const spec = COMMANDS[positional[0] ?? ""]?.options?.[flag];
      if (!spec) return usageError(`unknown option ${arg}`);
      if (spec.value) {
        const value = inline ?? (argv[i + 1]?.startsWith("-") ? undefined : argv[++i]);
        if (value === undefined) return usageError(`${flag} needs a value`);
        options[flag] = value;
      } else {
        if (inline !== undefined) return usageError(`${flag} takes no value`);
        options[flag] = true;
      }
    } else {
      positional.push(arg);
    }
  }
  const [name = "serve", ...rest] = positional;
  const command = COMMANDS[name];
  if (!command) return usageError(`unknown command ${name}`);
  if (rest.length) return usageError(`unexpected argument ${rest[0]}`);
  try {
    const code = await command.run(loadConfig(env), options);
    if (typeof code === "number") return code;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  return -1; // still running (serve)
}

function usageError(message: string): number {
  console.error(`berth: ${message}\n\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
