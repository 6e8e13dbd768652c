// The access settings an administrator changes on the Settings page: who may create projects by pushing,
// the visibility of new projects, and the lifetime of registry tokens. Stored values win over the
// configured ones (auth.projectCreation, auth.defaultVisibility, auth.tokenTtlSeconds) and apply on every
// replica as soon as the database announces them (src/metadata/live-settings.ts).
import { z } from "zod";
import type { Config } from "../config";
import type { LiveSettings } from "../metadata/live-settings";
import { SettingGroup, type SettingChange, type SettingsInput, type SettingView } from "../metadata/setting-group";

export const PROJECT_CREATION = ["everyone", "admins"] as const;
export const VISIBILITIES = ["private", "public"] as const;
/** Registry tokens live at least this long (a pull of a big image must not outlive its token by much). */
export const MIN_TOKEN_TTL_SECONDS = 30;
/** And at most a day: a token cannot be taken back before it expires, except by a credential change. */
export const MAX_TOKEN_TTL_SECONDS = 24 * 3600;

export interface AccessValues {
  projectCreation: (typeof PROJECT_CREATION)[number];
  defaultVisibility: (typeof VISIBILITIES)[number];
  tokenTtlSeconds: number;
}

/** The setting table's key of each field, named after the configuration key whose value it overrides. */
export const ACCESS_SETTING_KEYS = {
  projectCreation: "auth.projectCreation",
  defaultVisibility: "auth.defaultVisibility",
  tokenTtlSeconds: "auth.tokenTtlSeconds",
} as const satisfies Record<keyof AccessValues, string>;

const TokenTtl = z.number().int().min(MIN_TOKEN_TTL_SECONDS).max(MAX_TOKEN_TTL_SECONDS);

/** PUT /api/v1/settings: any of the fields; null sets a field back to its configured value. */
export const AccessSettingsInputSchema = z
  .object({
    projectCreation: z.enum(PROJECT_CREATION).nullable().optional(),
    defaultVisibility: z.enum(VISIBILITIES).nullable().optional(),
    tokenTtlSeconds: TokenTtl.nullable().optional(),
  })
  .strict();

export type AccessSettingsInput = z.infer<typeof AccessSettingsInputSchema> & SettingsInput<AccessValues>;
export type AccessSettingsView = { [K in keyof AccessValues]: SettingView<AccessValues[K]> };
export type { SettingChange };

export class AccessSettings {
  private readonly group: SettingGroup<AccessValues>;

  constructor(configured: Pick<Config["auth"], keyof AccessValues>, live: LiveSettings | null) {
    const oneOf = (values: readonly string[]) => (v: unknown) => typeof v === "string" && values.includes(v);
    this.group = new SettingGroup<AccessValues>(
      {
        projectCreation: { key: ACCESS_SETTING_KEYS.projectCreation, configured: configured.projectCreation, valid: oneOf(PROJECT_CREATION) },
        defaultVisibility: { key: ACCESS_SETTING_KEYS.defaultVisibility, configured: configured.defaultVisibility, valid: oneOf(VISIBILITIES) },
        tokenTtlSeconds: { key: ACCESS_SETTING_KEYS.tokenTtlSeconds, configured: configured.tokenTtlSeconds, valid: (v) => TokenTtl.safeParse(v).success },
      },
      live,
    );
  }

  get projectCreation(): AccessValues["projectCreation"] {
    return this.group.value("projectCreation");
  }

  get defaultPublic(): boolean {
    return this.group.value("defaultVisibility") === "public";
  }

  get tokenTtlSeconds(): number {
    return this.group.value("tokenTtlSeconds");
  }

  view(): AccessSettingsView {
    return {
      projectCreation: this.group.view("projectCreation"),
      defaultVisibility: this.group.view("defaultVisibility"),
      tokenTtlSeconds: this.group.view("tokenTtlSeconds"),
    };
  }

  /** The values set in the UI, by setting key (= configuration key), for the effective configuration. */
  overrides(): Map<string, unknown> {
    return this.group.overrides();
  }

  update(input: AccessSettingsInput, by: string): Promise<SettingChange[]> {
    return this.group.update(input, by);
  }
}
