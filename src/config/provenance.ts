// Where each configuration value came from, for the Settings page: the YAML file, the environment, or the
// schema's default. loadConfig records the raw documents it merged; a configuration made by parseConfig
// alone (tests, embedding) has none, and its non-default values count as from the configuration document.

export type ConfigSource = "yaml" | "env" | "default";

interface RawDocuments {
  /** The YAML file as read. */
  file: Record<string, unknown>;
  /** The same after the environment variables were applied. */
  environment: Record<string, unknown>;
}

const documents = new WeakMap<object, RawDocuments>();

export function recordProvenance(config: object, raw: RawDocuments): void {
  documents.set(config, raw);
}

/**
 * The source of the value at `path` (keys and array indexes): `isDefault` says whether the value equals
 * the schema's default, for configurations without recorded documents.
 */
export function sourceOf(config: object, path: ReadonlyArray<string | number>, isDefault: boolean): ConfigSource {
  const raw = documents.get(config);
  if (!raw) return isDefault ? "default" : "yaml";
  const inFile = valueAt(raw.file, path);
  const inEnvironment = valueAt(raw.environment, path);
  if (inEnvironment !== undefined && JSON.stringify(inEnvironment) !== JSON.stringify(inFile)) return "env";
  if (inFile !== undefined) return "yaml";
  return "default";
}

/** The value at `path` of a parsed or raw document; undefined where there is none. */
export function valueAt(document: unknown, path: ReadonlyArray<string | number>): unknown {
  let node = document;
  for (const key of path) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return node;
}
