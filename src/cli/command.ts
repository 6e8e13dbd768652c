import type { Config } from "../config";

export interface Command {
  summary: string;
  /** Usage lines shown by `berth <command> --help`. */
  usage?: string;
  /** Resolves with an exit code, or null while the command keeps running (serve). */
  run(config: Config, args: string[]): Promise<number | null>;
}

export class UsageError extends Error {}
