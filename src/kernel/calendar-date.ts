import { z } from "zod";

/**
 * A date a client may send: an ISO 8601 calendar date or date-time (a real day: no 30 February), in
 * 1970–9999. `new Date()` alone takes "0000-01-01" or "2026-02-30" and Postgres then fails on the first
 * (a 500), so every date read from a request or a command line goes through here.
 */
const FIRST_YEAR = 1970;
const LAST_YEAR = 9999;

export const DATE_FORMAT_HINT = `an ISO 8601 date or date-time in ${FIRST_YEAR}–${LAST_YEAR}, e.g. 2027-01-31 or 2027-01-31T12:00:00Z`;

const isoDate = z.union([z.iso.date(), z.iso.datetime({ offset: true, local: true })]);

/** The instant `text` names, or null when it is not such a date. */
export function parseCalendarDate(text: string): Date | null {
  if (!isoDate.safeParse(text).success) return null;
  const date = new Date(text);
  // The range is about the year the client wrote (an offset may move the instant across New Year).
  const written = Number(text.slice(0, 4));
  if (Number.isNaN(date.getTime()) || written < FIRST_YEAR || written > LAST_YEAR) return null;
  return date;
}

/** The zod form of parseCalendarDate, for JSON bodies: the string becomes a Date. */
export const calendarDate = z.string().transform((text, ctx) => {
  const date = parseCalendarDate(text);
  if (date === null) {
    ctx.addIssue({ code: "custom", message: `must be ${DATE_FORMAT_HINT}` });
    return z.NEVER;
  }
  return date;
});
