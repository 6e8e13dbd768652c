// Tag names in the order people expect (build-2 before build-10). Intl.Collator's numeric option does it
// without a package; the "und" locale keeps the order the same on every server whatever its language.
const collator = new Intl.Collator("und", { numeric: true, sensitivity: "variant" });

/** Compares two names naturally; names equal to the collator fall back to code-point order, so the order is total. */
export function naturalCompare(a: string, b: string): number {
  return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}
