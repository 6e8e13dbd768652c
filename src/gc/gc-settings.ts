// The GC settings an administrator may change at run time (schedule, grace, untagged manifests), over the
// configured values: a stored value (src/metadata/settings-store.ts) wins; without one the configuration
// file / environment gives the value, and the view says which.
import { formatDuration } from "../config/duration";
import type { GcConfig, GcSettingsInput } from "../config/gc";
import { parseSchedule } from "../config/schedule";
import type { LiveSettings } from "../metadata/live-settings";
import { SettingGroup, type SettingChange, type SettingView } from "../metadata/setting-group";
import type { StoredSetting } from "../metadata/settings-store";

/** The keys in the setting table; the Settings page's own (src/auth/auth-settings.ts) sit next to these. */
export const GC_SETTING_KEYS = { schedule: "gc.schedule", grace: "gc.grace", untagged: "gc.untagged" } as const;

export type { SettingChange, SettingView };

export interface GcSettingsView {
  /** Null: no scheduled collection. `error`: the stored schedule cannot be armed, so none runs. */
  schedule: SettingView<string | null> & { error?: string };
  /** Milliseconds, with `text` as people write it. */
  grace: SettingView<number> & { text: string; defaultText: string };
  untagged: SettingView<boolean>;
}

interface GcValues {
  /** "" or null: no schedule. */
  schedule: string | null;
  grace: number;
  untagged: boolean;
}

export class GcSettings {
  private readonly group: SettingGroup<GcValues>;

  constructor(
    configured: Pick<GcConfig, "schedule" | "grace" | "untagged">,
    private readonly live: LiveSettings | null,
  ) {
    this.group = new SettingGroup<GcValues>(
      {
        schedule: { key: GC_SETTING_KEYS.schedule, configured: configured.schedule ?? null, valid: VALID.schedule },
        grace: { key: GC_SETTING_KEYS.grace, configured: configured.grace, valid: VALID.grace },
        untagged: { key: GC_SETTING_KEYS.untagged, configured: configured.untagged, valid: VALID.untagged },
      },
      live,
    );
  }

  get grace(): number {
    return this.group.value("grace");
  }

  get untagged(): boolean {
    return this.group.value("untagged");
  }

  /** Undefined: no schedule (also when the stored one cannot be armed, see scheduleError). */
  get schedule(): string | undefined {
    if (this.scheduleError) return undefined;
    return this.group.value("schedule") || undefined;
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
    return this.group.onChange(fn);
  }

  view(): GcSettingsView {
    const grace = this.group.view("grace");
    const schedule = this.group.view("schedule");
    const scheduleError = this.scheduleError;
    return {
      schedule: scheduleError ? { ...schedule, value: null, source: "ui", error: scheduleError } : { ...schedule, value: schedule.value || null },
      grace: { ...grace, text: formatDuration(grace.value), defaultText: formatDuration(grace.default) },
      untagged: this.group.view("untagged"),
    };
  }

  /** The values set in the UI, by setting key (= configuration key), for the effective configuration. */
  overrides(): Map<string, unknown> {
    return this.group.overrides();
  }

  /** Stores the given fields (null: back to the configured value) and returns what changed. */
  update(input: GcSettingsInput, by: string): Promise<SettingChange[]> {
    return this.group.update(input, by);
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

const VALID: Record<keyof typeof GC_SETTING_KEYS, (v: unknown) => boolean> = {
  schedule: isScheduleText,
  grace: isDuration,
  untagged: (v) => typeof v === "boolean",
};

/** What is wrong with the stored GC settings (for `berth doctor`), one sentence each. */
export function storedGcSettingProblems(stored: ReadonlyMap<string, StoredSetting>): string[] {
  const problems: string[] = [];
  for (const [field, key] of Object.entries(GC_SETTING_KEYS) as Array<[keyof typeof GC_SETTING_KEYS, string]>) {
    const setting = stored.get(key);
    if (!setting) continue;
    if (field === "schedule" && typeof setting.value === "string") {
      const problem = scheduleProblem(setting.value);
      if (problem) problems.push(`stored setting ${key}: ${problem}; scheduled garbage collection is off until it is changed or reset`);
    } else if (!VALID[field](setting.value)) {
      problems.push(`stored setting ${key} has an invalid value ${JSON.stringify(setting.value)}; the configured value is used`);
    }
  }
  return problems;
}

function isDuration(v: unknown): boolean {
  return typeof v === "number" && Number.isFinite(v) && v >= 0;
}
