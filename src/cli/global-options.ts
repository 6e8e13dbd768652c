import leven from "leven";

/** The options every command takes, with the environment variable each one sets. */
export const VALUE_OPTIONS: Record<string, string> = {
  "--listen": "BERTH_LISTEN",
  "--data-dir": "BERTH_DATA_DIR",
  "--config": "BERTH_CONFIG",
  "--log-format": "BERTH_LOG_FORMAT",
};
const ALL_OPTIONS = [...Object.keys(VALUE_OPTIONS), "--port", "--no-auth", "--help"];

/**
 * The error for an option berth does not know, naming the closest one it does: a newcomer's `--prot 5900`
 * or `--datadir x` should lead straight to the right spelling.
 */
export function unknownOption(arg: string): string {
  const [name] = arg.split("=", 1);
  const ranked = ALL_OPTIONS.map((o) => ({ o, d: leven(name, o) })).sort((a, b) => a.d - b.d);
  const near = ranked[0].d <= Math.max(2, Math.floor(name.length / 3)) ? ranked[0].o : undefined;
  return `unknown option ${name}${near ? ` (did you mean ${near}?)` : ""}`;
}

/** What an unexpected argument of a command that takes none is called in its error. */
export function unexpectedArgument(arg: string): string {
  return arg.startsWith("-") ? unknownOption(arg) : `unexpected argument ${arg}`;
}
