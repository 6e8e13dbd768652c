/**
 * True when the database refused the data of a statement, not the statement's chance to run: SQLSTATE
 * class 22 (data exception: a NUL or untranslatable character, a value out of range, a string too long)
 * or 23 (integrity constraint violation). Retrying such a statement row by row isolates the bad row;
 * retrying anything else (connection refused, pool exhausted, server shutting down) only repeats an
 * outage. pg and PGlite both report the SQLSTATE as `code` (pg-protocol's DatabaseError), possibly
 * wrapped as a `cause`.
 */
export function isDataError(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^2[23][0-9A-Z]{3}$/.test(code)) return true;
  }
  return false;
}
