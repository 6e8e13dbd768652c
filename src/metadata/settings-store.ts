// Run-time settings an administrator changes (src/metadata/live-settings.ts keeps them fresh): one JSON
// value per key in the `setting` table. A key without a row means "as configured".
import type { Database } from "./database";

export interface StoredSetting {
  value: unknown;
  updatedAt: Date;
  updatedBy: string | null;
}

export interface SettingStore {
  all(): Promise<Map<string, StoredSetting>>;
  set(key: string, value: unknown, updatedBy: string): Promise<void>;
  /** Back to the configured value; false when the key was not set. */
  reset(key: string): Promise<boolean>;
}

export class SqlSettingStore implements SettingStore {
  constructor(private readonly db: Pick<Database, "query">) {}

  async all(): Promise<Map<string, StoredSetting>> {
    const rows = await this.db.query<{ key: string; value: unknown; updated_at: Date; updated_by: string | null }>(
      `SELECT key, value, updated_at, updated_by FROM setting`,
    );
    return new Map(rows.map((r) => [r.key, { value: r.value, updatedAt: r.updated_at, updatedBy: r.updated_by }]));
  }

  async set(key: string, value: unknown, updatedBy: string): Promise<void> {
    await this.db.query(
      `INSERT INTO setting (key, value, updated_at, updated_by) VALUES ($1, $2::jsonb, clock_timestamp(), $3)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by`,
      [key, JSON.stringify(value), updatedBy],
    );
  }

  async reset(key: string): Promise<boolean> {
    const rows = await this.db.query(`DELETE FROM setting WHERE key = $1 RETURNING key`, [key]);
    return rows.length > 0;
  }
}
