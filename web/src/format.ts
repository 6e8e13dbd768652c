import { lang, t } from "./i18n";

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  const digits = unit === 0 ? 0 : value < 10 ? 2 : value < 100 ? 1 : 0;
  return `${value.toLocaleString(lang(), { maximumFractionDigits: digits, minimumFractionDigits: digits })} ${units[unit]}`;
}

export function count(n: number): string {
  return n.toLocaleString(lang());
}

export function percent(f: number): string {
  return `${(f * 100).toLocaleString(lang(), { maximumFractionDigits: 1 })}%`;
}

const UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];

/** "3 hours ago" / "3 小时前". */
export function ago(iso: string | null | undefined): string {
  if (!iso) return t("common.never");
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  if (Math.abs(seconds) < 45) return t("time.justNow");
  const rtf = new Intl.RelativeTimeFormat(lang(), { numeric: "auto" });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return rtf.format(-Math.round(seconds / size), unit);
  }
  return rtf.format(-Math.round(seconds / 60), "minute");
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(lang(), { dateStyle: "medium", timeStyle: "short" });
}

export function shortDigest(digest: string): string {
  const i = digest.indexOf(":");
  return `${digest.slice(0, i + 1)}${digest.slice(i + 1, i + 13)}`;
}

export function platform(p: { os: string; architecture: string; variant?: string } | null | undefined): string {
  if (!p) return "";
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

/** Repository names hold slashes; they go into paths as they are (each segment is URL-safe already). */
export function repoPath(name: string): string {
  return `/repositories/${name}`;
}

export function apiRepo(name: string): string {
  return `/api/v1/repositories/${name}`;
}
