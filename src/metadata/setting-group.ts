// A group of run-time settings over their configured values: a stored value (settings-store.ts, kept fresh
// by live-settings.ts) wins when it is of the right type; without one the configuration file / environment
// gives the value, and the view says which.
import type { LiveSettings } from "./live-settings";
import type { StoredSetting } from "./settings-store";

export interface SettingView<T> {
  value: T;
  /** The configured value, which "reset" returns to. */
  default: T;
  source: "config" | "ui";
  updatedAt: string | null;
  updatedBy: string | null;
}

/** One change to record as a "setting.changed" event. */
export interface SettingChange {
  key: string;
  value: unknown;
  reset?: true;
}

export interface SettingField<T> {
  /** The key in the setting table. */
  key: string;
  configured: T;
  /** A stored value that fails this (written by hand in SQL, or by an older version) is ignored, not trusted. */
  valid: (value: unknown) => boolean;
}

export type SettingFields<V> = { [K in keyof V]: SettingField<V[K]> };
/** Per field: a new value, null for "back to the configured value", absent for "unchanged". */
export type SettingsInput<V> = { [K in keyof V]?: V[K] | null };

export class SettingGroup<V extends object> {
  constructor(
    private readonly fields: SettingFields<V>,
    private readonly live: LiveSettings | null,
  ) {}

  value<K extends keyof V>(field: K): V[K] {
    const stored = this.stored(field);
    return stored ? (stored.value as V[K]) : this.fields[field].configured;
  }

  view<K extends keyof V>(field: K): SettingView<V[K]> {
    const stored = this.stored(field);
    return {
      value: this.value(field),
      default: this.fields[field].configured,
      source: stored ? "ui" : "config",
      updatedAt: stored?.updatedAt.toISOString() ?? null,
      updatedBy: stored?.updatedBy ?? null,
    };
  }

  /** The values stored for this group that are in force, by key. */
  overrides(): Map<string, unknown> {
    const out = new Map<string, unknown>();
    for (const field of Object.keys(this.fields) as Array<keyof V>) {
      if (this.stored(field)) out.set(this.fields[field].key, this.value(field));
    }
    return out;
  }

  /** Called when a stored value changes, from this replica or another; returns the unsubscribe function. */
  onChange(fn: () => void): () => void {
    return this.live?.subscribe(fn) ?? (() => {});
  }

  /** Stores the given fields (null: back to the configured value) and returns what changed. */
  async update(input: SettingsInput<V>, by: string): Promise<SettingChange[]> {
    if (!this.live) throw new Error("settings cannot be changed without the settings store");
    const changes: SettingChange[] = [];
    for (const field of Object.keys(this.fields) as Array<keyof V>) {
      const value = input[field];
      if (value === undefined) continue;
      const { key, configured } = this.fields[field];
      if (value === null) {
        if (await this.live.store.reset(key)) changes.push({ key, value: configured ?? null, reset: true });
      } else {
        await this.live.store.set(key, value, by);
        changes.push({ key, value });
      }
    }
    // This replica sees its own change at once; the others hear the database's announcement.
    await this.live.refresh();
    return changes;
  }

  private stored(field: keyof V): StoredSetting | undefined {
    const { key, valid } = this.fields[field];
    const stored = this.live?.get(key);
    return stored && valid(stored.value) ? stored : undefined;
  }
}
