// The effective configuration as the Settings page shows it: every key with its value and where the value
// came from, secrets masked by what the schema marks as secret (src/config/secrets.ts), never by guessing
// from names.
import { ConfigSchema, parseConfig, type Config } from "./index";
import { sourceOf, valueAt, type ConfigSource } from "./provenance";
import { secretKeys, type SecretKind } from "./secrets";

export interface EffectiveEntry {
  /** Dotted, with array indexes: "mirror.upstreams.0.password". */
  key: string;
  /** Null when unset; a masked secret is a string of the mask (and what it may show, see SecretKind). */
  value: unknown;
  secret: boolean;
  source: ConfigSource | "ui";
}

export const MASK = "********";

/** Run-time values set in the UI, by configuration key, which win over the configured ones. */
export type UiOverrides = ReadonlyMap<string, unknown>;

type Schema = { _zod: { def: Record<string, unknown> & { type: string } } };

export function effectiveConfig(config: Config, ui: UiOverrides = new Map()): EffectiveEntry[] {
  const defaults = defaultConfig();
  const out: EffectiveEntry[] = [];
  const walk = (schema: Schema, value: unknown, path: Array<string | number>, secret: SecretKind | null): void => {
    const kind = secretKeys.get(schema as never)?.secret ?? secret;
    const def = schema._zod.def;
    switch (def.type) {
      case "optional":
      case "default":
      case "prefault":
      case "nullable":
        return walk(def.innerType as Schema, value, path, kind);
      case "pipe":
        return walk(def.out as Schema, value, path, kind);
      case "object":
        if (isRecord(value)) {
          for (const [name, child] of Object.entries(def.shape as Record<string, Schema>)) walk(child, value[name], [...path, name], kind);
          return;
        }
        break;
      case "record":
        if (isRecord(value)) {
          for (const [name, child] of Object.entries(value)) walk(def.valueType as Schema, child, [...path, name], kind);
          return;
        }
        break;
      case "array":
        if (Array.isArray(value) && (def.element as Schema)._zod.def.type === "object") {
          value.forEach((element, i) => walk(def.element as Schema, element, [...path, i], kind));
          return;
        }
        break;
    }
    const key = path.join(".");
    const isDefault = JSON.stringify(value) === JSON.stringify(valueAt(defaults, path));
    if (ui.has(key)) {
      out.push({ key, value: ui.get(key) ?? null, secret: false, source: "ui" });
      return;
    }
    out.push({ key, value: kind && value != null ? mask(value, kind) : value ?? null, secret: kind !== null, source: sourceOf(config, path, isDefault) });
  };
  walk(ConfigSchema as unknown as Schema, config, [], null);
  return out;
}

function mask(value: unknown, kind: SecretKind): string {
  if (kind === "whole" || typeof value !== "string" || !URL.canParse(value)) return MASK;
  const url = new URL(value);
  if (kind === "origin") return `${url.protocol}//${url.host}${url.pathname === "/" && !url.search ? "" : `/${MASK}`}`;
  // A user name alone is often itself the credential (https://TOKEN@host); with a password it names the account.
  if (url.password) url.password = MASK;
  else if (url.username) url.username = MASK;
  for (const name of [...url.searchParams.keys()]) url.searchParams.set(name, MASK);
  if (url.hash) url.hash = MASK;
  return url.href.replace(/%2A/g, "*");
}

let defaults: Config | undefined;

/** The configuration with nothing set: what "default" is compared against. */
function defaultConfig(): Config {
  defaults ??= parseConfig({});
  return defaults;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
