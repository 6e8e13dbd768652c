/** Durations as people write them: "90s", "15m", "1h30m", "7d", "500ms", or "0". */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/y;

export class DurationError extends Error {
  override name = "DurationError";
}

/** Milliseconds in the duration; throws DurationError naming what was wrong. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === "0") return 0;
  if (s === "") throw new DurationError("empty duration");
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < s.length) {
    const at = PART.lastIndex;
    const m = PART.exec(s);
    if (!m) {
      throw new DurationError(
        `invalid duration ${JSON.stringify(text)} at ${JSON.stringify(s.slice(at))}: use e.g. 90s, 15m, 1h30m, 7d`,
      );
    }
    total += Number(m[1]) * UNITS[m[2]];
  }
  return Math.round(total);
}

/** The shortest exact spelling: 3600000 → "1h", 5400000 → "1h30m", 0 → "0". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0";
  let rest = ms;
  let out = "";
  for (const unit of ["w", "d", "h", "m", "s", "ms"]) {
    const n = Math.floor(rest / UNITS[unit]);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * UNITS[unit];
    }
  }
  return out;
}
