// The GC settings an administrator may change at run time (schedule, grace, untagged manifests), over the
// configured values: a stored value (src/metadata/settings-store.ts) wins; without one the configuration
// file / environment gives the value, and the view says which.
import { formatDuration } from "../config/duration";
import type { GcConfig, GcSettingsInput } from "../config/gc";
import { parseSchedule } from "../config/schedule";
import type { LiveSettings } from "../metadata/live-settings";
import { SettingGroup, type SettingChange, type SettingView } from "../metadata/setting-group";

/** The keys in the setting table; the Settings page's own (src/auth/auth-settings.ts) sit next to these. */
export const GC_SETTING_KEYS = { schedule: "gc.schedule", grace: "gc.grace", untagged: "gc.untagged" } as const;

export type { SettingChange, SettingView };

export interface GcSettingsView {
  /** Null: no scheduled collection. */
  schedule: SettingView<string | null>;
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

  constructor(configured: Pick<GcConfig, "schedule" | "grace" | "untagged">, live: LiveSettings | null) {
    this.group = new SettingGroup<GcValues>(
      {
        schedule: { key: GC_SETTING_KEYS.schedule, configured: configured.schedule ?? null, valid: isScheduleText },
        grace: { key: GC_SETTING_KEYS.grace, configured: configured.grace, valid: isDuration },
        untagged: { key: GC_SETTING_KEYS.untagged, configured: configured.untagged, valid: (v) => typeof v === "boolean" },
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

  /** Undefined: no schedule. */
  get schedule(): string | undefined {
    return this.group.value("schedule") || undefined;
  }

  /** Called when a stored value changes, from this replica or another. */
  onChange(fn: () => void): () => void {
    return this.group.onChange(fn);
  }

  view(): GcSettingsView {
    const grace = this.group.view("grace");
    const schedule = this.group.view("schedule");
    return {
      schedule: { ...schedule, value: schedule.value || null },
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

function isScheduleText(v: unknown): boolean {
  if (typeof v !== "string") return false;
  try {
    if (v !== "") parseSchedule(v);
    return true;
  } catch {
    return false;
  }
}

function isDuration(v: unknown): boolean {
  return typeof v === "number" && Number.isFinite(v) && v >= 0;
}
