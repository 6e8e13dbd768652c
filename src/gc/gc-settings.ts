// The GC settings an administrator may change at run time (schedule, grace, untagged manifests), over the
// configured values: a stored value (src/metadata/settings-store.ts) wins; without one the configuration
// file / environment gives the value, and the view says which.
import { formatDuration } from "../config/duration";
import type { GcConfig, GcSettingsInput } from "../config/gc";
import { parseSchedule } from "../config/schedule";
import type { LiveSettings } from "../metadata/live-settings";
import type { StoredSetting } from "../metadata/settings-store";

/** The keys in the setting table; a later Settings page adds its own next to these. */
export const GC_SETTING_KEYS = { schedule: "gc.schedule", grace: "gc.grace", untagged: "gc.untagged" } as const;
type Field = keyof typeof GC_SETTING_KEYS;

export interface SettingView<T> {
  value: T;
  /** The configured value, which "reset" returns to. */
  default: T;
  source: "config" | "ui";
  updatedAt: string | null;
  updatedBy: string | null;
}

export interface GcSettingsView {
  /** Null: no scheduled collection. `error`: the stored schedule cannot be armed, so none runs. */
  schedule: SettingView<string | null> & { error?: string };
  /** Milliseconds, with `text` as people write it. */
  grace: SettingView<number> & { text: string; defaultText: string };
  untagged: SettingView<boolean>;
}

/** One change to record as a "setting.changed" event. */
export interface SettingChange {
  key: string;
  value: unknown;
  reset?: true;
}

export class GcSettings {
  constructor(
    private readonly configured: Pick<GcConfig, "schedule" | "grace" | "untagged">,
    private readonly live: LiveSettings | null,
  ) {}

  get grace(): number {
    return this.field("grace", this.configured.grace);
  }

  get untagged(): boolean {
    return this.field("untagged", this.configured.untagged);
  }

  /** Undefined: no schedule (also when the stored one cannot be armed, see scheduleError). */
  get schedule(): string | undefined {
    if (this.scheduleError) return undefined;
    return this.field("schedule", this.configured.schedule ?? "") || undefined;
  }

  /**
   * Why the stored schedule cannot be armed (stored before the API refused it, or written by hand), else
   * undefined. Such a value turns scheduled collection off rather than stop the server from starting.
   */
  get scheduleError(): string | undefined {
    const stored = this.live?.get(GC_SETTING_KEYS.schedule);
    if (!stored || typeof stored.value !== "string") return undefined;
    const problem = scheduleProblem(stored.value);
    return problem && `${problem}; scheduled garbage collection is off until the schedule is changed or reset`;
  }

  /** Called when a stored value changes, from this replica or another. */
  onChange(fn: () => void): () => void {
    return this.live?.subscribe(fn) ?? (() => {});
  }

  view(): GcSettingsView {
    const grace = this.describe("grace", this.grace, this.configured.grace);
    const scheduleError = this.scheduleError;
    return {
      schedule: { ...this.describe("schedule", this.schedule ?? null, this.configured.schedule ?? null), ...(scheduleError && { source: "ui" as const, error: scheduleError }) },
      grace: { ...grace, text: formatDuration(grace.value), defaultText: formatDuration(grace.default) },
      untagged: this.describe("untagged", this.untagged, this.configured.untagged),
    };
  }

  /** Stores the given fields (null: back to the configured value) and returns what changed. */
  async update(input: GcSettingsInput, by: string): Promise<SettingChange[]> {
    if (!this.live) throw new Error("GC settings cannot be changed without the settings store");
    const changes: SettingChange[] = [];
    for (const field of Object.keys(GC_SETTING_KEYS) as Field[]) {
      const value = input[field];
      if (value === undefined) continue;
      const key = GC_SETTING_KEYS[field];
      if (value === null) {
        if (await this.live.store.reset(key)) changes.push({ key, value: this.configured[field] ?? null, reset: true });
      } else {
        await this.live.store.set(key, value, by);
        changes.push({ key, value });
      }
    }
    // This replica sees its own change at once; the others hear the database's announcement.
    await this.live.refresh();
    return changes;
  }

  private field<T>(field: Field, configured: T): T {
    const stored = this.stored(field);
    return stored ? (stored.value as T) : configured;
  }

  /** The stored value, if any and of the right type: one written by hand in SQL that is not is ignored, not trusted. */
  private stored(field: Field): StoredSetting | undefined {
    const stored = this.live?.get(GC_SETTING_KEYS[field]);
    return stored && VALID[field](stored.value) ? stored : undefined;
  }

  private describe<T>(field: Field, value: T, configured: T): SettingView<T> {
    const stored = this.stored(field);
    return {
      value,
      default: configured,
      source: stored ? "ui" : "config",
      updatedAt: stored?.updatedAt.toISOString() ?? null,
      updatedBy: stored?.updatedBy ?? null,
    };
  }
}

/** Why a schedule text cannot be armed; undefined when it can ("" is no schedule). */
function scheduleProblem(text: string): string | undefined {
  try {
    if (text !== "") parseSchedule(text);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function isScheduleText(v: unknown): boolean {
  return typeof v === "string" && !scheduleProblem(v);
}

/** What is wrong with the stored GC settings (for `berth doctor`), one sentence each. */
export function storedGcSettingProblems(stored: ReadonlyMap<string, StoredSetting>): string[] {
  const problems: string[] = [];
  for (const field of Object.keys(GC_SETTING_KEYS) as Field[]) {
    const setting = stored.get(GC_SETTING_KEYS[field]);
    if (!setting) continue;
    if (field === "schedule" && typeof setting.value === "string") {
      const problem = scheduleProblem(setting.value);
      if (problem) problems.push(`stored setting ${GC_SETTING_KEYS[field]}: ${problem}; scheduled garbage collection is off until it is changed or reset`);
    } else if (!VALID[field](setting.value)) {
      problems.push(`stored setting ${GC_SETTING_KEYS[field]} has an invalid value ${JSON.stringify(setting.value)}; the configured value is used`);
    }
  }
  return problems;
}

function isDuration(v: unknown): boolean {
  return typeof v === "number" && Number.isFinite(v) && v >= 0;
}

const VALID: Record<Field, (v: unknown) => boolean> = {
  schedule: isScheduleText,
  grace: isDuration,
  untagged: (v) => typeof v === "boolean",
};
