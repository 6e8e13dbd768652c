import { parseDuration } from "./duration";

/**
 * When scheduled garbage collections run: a 5-field cron expression in the server's local time
 * ("0 3 * * *": 03:00 every day; lists, ranges and steps as in crontab), "@hourly", "@daily",
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

const ALIASES: Record<string, string> = {
  "@hourly": "0 * * * *",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@weekly": "0 0 * * 0",
  "@monthly": "0 0 1 * *",
};

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
  const expr = ALIASES[s] ?? s;
  if (expr.startsWith("@")) throw new ScheduleError(`unknown schedule ${JSON.stringify(text)}`);
  return cron(s, expr);
}

interface Field {
  name: string;
  min: number;
  max: number;
}

const FIELDS: Field[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "day of week", min: 0, max: 7 }, // 0 and 7 are Sunday
];

function cron(text: string, expr: string): Schedule {
  const parts = expr.split(/\s+/);
  if (parts.length !== 5) {
    throw new ScheduleError(`schedule ${JSON.stringify(text)}: a cron expression has 5 fields (minute hour day month weekday)`);
  }
  const sets = parts.map((p, i) => parseField(text, p, FIELDS[i]));
  const [minutes, hours, days, months, weekdays] = sets;
  if (weekdays.has(7)) weekdays.add(0);
  // Vixie cron: when both day fields are restricted, a day matches if either does.
  const domRestricted = parts[2] !== "*";
  const dowRestricted = parts[4] !== "*";
  const dayMatches = (d: Date) => {
    const dom = days.has(d.getDate());
    const dow = weekdays.has(d.getDay());
    if (domRestricted && dowRestricted) return dom || dow;
    return dom && dow;
  };
  return {
    text,
    next(after) {
      const d = new Date(after.getTime());
      d.setSeconds(0, 0);
      d.setMinutes(d.getMinutes() + 1);
      const limit = after.getTime() + 5 * 366 * 86_400_000; // e.g. "0 0 30 2 *" never matches
      while (d.getTime() <= limit) {
        if (!months.has(d.getMonth() + 1)) {
          d.setMonth(d.getMonth() + 1, 1);
          d.setHours(0, 0, 0, 0);
        } else if (!dayMatches(d)) {
          d.setDate(d.getDate() + 1);
          d.setHours(0, 0, 0, 0);
        } else if (!hours.has(d.getHours())) {
          d.setHours(d.getHours() + 1, 0, 0, 0);
        } else if (!minutes.has(d.getMinutes())) {
          d.setMinutes(d.getMinutes() + 1, 0, 0);
        } else {
          return d;
        }
      }
      throw new ScheduleError(`schedule ${JSON.stringify(text)} never comes due`);
    },
  };
}

function parseField(text: string, part: string, field: Field): Set<number> {
  const out = new Set<number>();
  const bad = (why: string) => new ScheduleError(`schedule ${JSON.stringify(text)}: ${field.name} field ${JSON.stringify(part)}: ${why}`);
  for (const item of part.split(",")) {
    const m = /^(\*|\d+(?:-\d+)?)(?:\/(\d+))?$/.exec(item);
    if (!m) throw bad("expected *, N, N-M, or one of those with /STEP");
    let lo = field.min;
    let hi = field.max;
    if (m[1] !== "*") {
      const [a, b] = m[1].split("-").map(Number);
      lo = a;
      hi = b ?? (m[2] ? field.max : a);
    }
    const step = m[2] ? Number(m[2]) : 1;
    if (lo < field.min || hi > field.max || lo > hi) throw bad(`values must lie in ${field.min}-${field.max}`);
    if (step < 1) throw bad("step must be at least 1");
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}
