/** Sizes as people write them: "500MB", "50GiB", "1.5TB", "1024", or a plain number of bytes. */
const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, pb: 1e15,
  k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4, pib: 1024 ** 5,
};
const SIZE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/;

export class ByteSizeError extends Error {
  override name = "ByteSizeError";
}

/** Bytes in the size (rounded down); throws ByteSizeError naming what was wrong. */
export function parseByteSize(text: string): number {
  const m = SIZE.exec(text.trim().toLowerCase());
  const unit = m && UNITS[m[2] || "b"];
  if (!m || !unit) throw new ByteSizeError(`invalid size ${JSON.stringify(text)}: use e.g. 500MB, 50GiB or a number of bytes`);
  return Math.floor(Number(m[1]) * unit);
}

/** Bytes in binary units, as people read them: "512 B", "5.00 MiB", "98.2 MiB". */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
