import { Cron } from "croner";
import { parseDuration } from "./duration";

/**
 * When scheduled garbage collections run: a 5-field cron expression in the server's local time
 * ("0 3 * * *": 03:00 every day; lists, ranges and steps as in crontab, and croner's extensions such as
 * names and L), "@hourly", "@daily",
 * "@weekly", "@monthly", or "@every <duration>" (e.g. "@every 6h", counted from the previous run's end).
 */
export interface Schedule {
  readonly text: string;
  /** The first time strictly after `after` when a run is due. */
  next(after: Date): Date;
}

export class ScheduleError extends Error {
  override name = "ScheduleError";
}

export function parseSchedule(text: string): Schedule {
  const s = text.trim();
  const every = /^@every\s+(\S+)$/.exec(s);
  if (every) {
    let ms: number;
    try {
      ms = parseDuration(every[1]);
    } catch (err) {
      throw new ScheduleError(`schedule ${JSON.stringify(text)}: ${(err as Error).message}`);
    }
    if (ms < 1000) throw new ScheduleError(`schedule ${JSON.stringify(text)}: the interval must be at least 1s`);
    return { text: s, next: (after) => new Date(after.getTime() + ms) };
  }
  return cron(s);
}

const FIELDS = ["minute", "hour", "day of month", "month", "day of week"];

/**
 * A cron expression or alias, read by croner in the server's local time: exactly 5 fields (no seconds),
 * and Vixie cron's rule that a day matches either restricted day field (croner's default).
 */
function cron(text: string): Schedule {
  let pattern: Cron;
  if (text.startsWith("@")) {
    try {
      pattern = new Cron(text, { mode: "5-part" });
    } catch {
      throw new ScheduleError(`unknown schedule ${JSON.stringify(text)}`);
    }
  } else {
    const parts = text.split(/\s+/);
    if (parts.length !== 5) {
      throw new ScheduleError(`schedule ${JSON.stringify(text)}: a cron expression has 5 fields (minute hour day month weekday)`);
    }
    // croner names a bad value's field but not a bad range's: each field is tried alone to say which.
    parts.forEach((part, i) => {
      try {
        new Cron(parts.map((p, j) => (j === i ? p : "*")).join(" "), { mode: "5-part" });
      } catch (err) {
        throw new ScheduleError(`schedule ${JSON.stringify(text)}: ${FIELDS[i]} field ${JSON.stringify(part)}: ${(err as Error).message.replace(/^CronPattern: /, "")}`);
      }
    });
    pattern = new Cron(text, { mode: "5-part" });
  }
  // Each field may be valid while their combination never occurs ("0 0 31 2 *"): such a schedule would be
  // stored or configured and then fail when armed, so it is refused here, where every path parses it.
  if (!pattern.nextRun()) throw new ScheduleError(`schedule ${JSON.stringify(text)} never comes due (no date matches its day and month fields)`);
  return {
    text,
    next(after) {
      const next = pattern.nextRun(after);
      if (!next) throw new ScheduleError(`schedule ${JSON.stringify(text)} never comes due`);
      return next;
    },
  };
}
