// The configuration of garbage collection, retention and tag immutability; src/config/index.ts embeds it.
import { z } from "zod";
import { compilesWith, glob, wholeRegex } from "../kernel/patterns";
import { ByteSizeError, parseByteSize } from "./byte-size";
import { parseDuration } from "./duration";
import { parseSchedule } from "./schedule";

/** A duration string ("90s", "15m", "1h30m", "7d") or a number of seconds; parsed to milliseconds. */
export const duration = z.union([z.string(), z.number().min(0)]).transform((value, ctx) => {
  if (typeof value === "number") return Math.round(value * 1000);
  try {
    return parseDuration(value);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
    return z.NEVER;
  }
});

/** A size string ("500MB", "50GiB") or a number of bytes; parsed to bytes. */
export const byteSize = z.union([z.string(), z.number().int().min(0)]).transform((value, ctx) => {
  if (typeof value === "number") return value;
  try {
    return parseByteSize(value);
  } catch (err) {
    if (!(err instanceof ByteSizeError)) throw err;
    ctx.addIssue({ code: "custom", message: err.message });
    return z.NEVER;
  }
});

const schedule = z.string().transform((value, ctx) => {
  try {
    return parseSchedule(value).text;
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
    return z.NEVER;
  }
});

/** A regular expression (RE2 syntax, see src/kernel/patterns.ts) matched against the whole tag. */
const tagPattern = z.string().min(1).superRefine(compilesWith(wholeRegex));

/** A project name (the first segment of repository names) or a glob over them with *, ? and {a,b}. */
const projectPattern = z
  .string()
  .min(1)
  .regex(/^[a-z0-9._*?{},-]+$/, "must be a project name or a glob with *, ? and {a,b}, e.g. team or *")
  .superRefine(compilesWith(glob));

export const GcConfigSchema = z
  .object({
    /** Untagged manifests, unreferenced blobs and links younger (or touched more recently) than this stay. */
    grace: duration.prefault("1h"),
    /** Delete dangling (untagged, unreferenced) manifests; false keeps every manifest. */
    untagged: z.boolean().default(true),
    /** Upload sessions idle for longer than this are deleted with their partial data. */
    uploadTimeout: duration.prefault("24h"),
    /** When the server runs a collection by itself (see src/config/schedule.ts); unset: never. */
    schedule: schedule.optional(),
    /** Apply the retention rules at the start of each collection. */
    retention: z.boolean().default(true),
    /** Rows deleted per transaction. */
    batchSize: z.number().int().min(1).max(10_000).default(500),
    /** Pause between batches, to spread the load of a large collection on a busy server. */
    batchPause: duration.prefault("0"),
  })
  .strict()
  .prefault({});

/** What a retention rule keeps and deletes; configured rules add the project, stored ones belong to one. */
const retentionFields = (pattern: z.ZodType<string>, maxPatterns: number) => ({
  /** Keep the N most recently pushed tags of each repository. */
  keepLatest: z.number().int().min(0).max(1_000_000).optional(),
  /** Keep tags matching any of these regular expressions (whole-tag match). */
  keepTags: z.array(pattern).max(maxPatterns).default([]),
  /** Delete tags last pushed more than D days ago. */
  deleteOlderThanDays: z.number().min(0).max(36_500).optional(),
});
const hasDeleteClause = [
  (r: { keepLatest?: number; deleteOlderThanDays?: number }) => r.keepLatest !== undefined || r.deleteOlderThanDays !== undefined,
  { message: "a retention rule needs keepLatest, deleteOlderThanDays or both" },
] as const;

/** Tags matching any of these regular expressions (whole-tag match) can be neither moved nor deleted. */
const immutableFields = (pattern: z.ZodType<string>, maxPatterns: number) => ({ tags: z.array(pattern).min(1).max(maxPatterns) });

/** The configuration is the operator's: its patterns are not bounded beyond sanity. */
const CONFIG_PATTERNS = 1000;
/** Rules from the admin API are a project admin's, and every push matches tags against them: kept small. */
const API_PATTERNS = 20;
const apiTagPattern = tagPattern.max(200);

export const RetentionRuleSchema = z
  .object({ project: projectPattern, ...retentionFields(tagPattern, CONFIG_PATTERNS) })
  .strict()
  .refine(...hasDeleteClause);

export const ImmutableTagRuleSchema = z.object({ project: projectPattern, ...immutableFields(tagPattern, CONFIG_PATTERNS) }).strict();

/** A rule stored for one project (src/gc/project-rule-store.ts): the same clauses, without the project pattern. */
export const RetentionSpecSchema = z.object(retentionFields(tagPattern, CONFIG_PATTERNS)).strict().refine(...hasDeleteClause);
export const ImmutableSpecSchema = z.object(immutableFields(tagPattern, CONFIG_PATTERNS)).strict();

/** A rule as the admin API takes it (POST/PUT /api/v1/projects/{project}/rules). */
export const RuleInputSchema = z.discriminatedUnion("kind", [
  z
    .object({ kind: z.literal("retention"), ...retentionFields(apiTagPattern, API_PATTERNS) })
    .strict()
    .refine(...hasDeleteClause),
  z.object({ kind: z.literal("immutable"), ...immutableFields(apiTagPattern, API_PATTERNS) }).strict(),
]);

/** The longest grace period an administrator may set at run time (the configuration file is not bounded). */
const MAX_SETTING_GRACE_MS = 365 * 86_400_000;

/**
 * GC settings as the admin API takes them (PUT /api/v1/gc/settings): each field optional; null resets it to
 * the configured value; a schedule of "" means no scheduled collection.
 */
export const GcSettingsInputSchema = z
  .object({
    schedule: z.union([z.literal(""), schedule]).nullable().optional(),
    grace: duration.pipe(z.number().max(MAX_SETTING_GRACE_MS, "must be at most 365d")).nullable().optional(),
    untagged: z.boolean().nullable().optional(),
  })
  .strict();

export type GcSettingsInput = z.infer<typeof GcSettingsInputSchema>;
export type GcConfig = z.infer<typeof GcConfigSchema>;
export type RetentionRule = z.infer<typeof RetentionRuleSchema>;
export type ImmutableTagRule = z.infer<typeof ImmutableTagRuleSchema>;
export type RetentionSpec = z.infer<typeof RetentionSpecSchema>;
export type ImmutableSpec = z.infer<typeof ImmutableSpecSchema>;
export type RuleInput = z.infer<typeof RuleInputSchema>;
