// Keeps docs/configuration.md complete and true: every schema key has a row, every environment variable
// the config code reads is documented (in its key's row when it maps to one key), and every documented
// default equals the schema's.
import { readFileSync } from "node:fs";
import path from "node:path";
import { ConfigSchema, ENV_KEYS } from "../../src/config";

const ROOT = path.resolve(__dirname, "../..");
const DOC = readFileSync(path.join(ROOT, "docs/configuration.md"), "utf8");

interface Leaf {
  key: string;
  /** The schema default, when it has one. */
  default?: unknown;
}

/** Every configurable key of the schema, with `[]` for array elements ("mirror.upstreams[].url"). */
function leaves(schema: unknown, key: string, out: Leaf[] = []): Leaf[] {
  const def = (schema as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
  switch (def.type) {
    case "default":
    case "prefault": {
      const inner = def.innerType as { _zod: { def: { type: string; element?: { _zod: { def: { type: string } } } } } };
      const innerType = inner._zod.def.type;
      if (def.type === "default" && innerType !== "object") {
        out.push({ key, default: typeof def.defaultValue === "function" ? (def.defaultValue as () => unknown)() : def.defaultValue });
        if (innerType === "array" && inner._zod.def.element?._zod.def.type === "object") leaves(inner, key, out);
        return out;
      }
      return leaves(inner, key, out);
    }
    case "optional":
      return leaves(def.innerType, key, out);
    case "object":
      for (const [name, child] of Object.entries((schema as { shape: Record<string, unknown> }).shape)) leaves(child, key ? `${key}.${name}` : name, out);
      return out;
    case "array": {
      const element = def.element as { _zod: { def: { type: string } } };
      if (element._zod.def.type === "object") {
        if (!out.some((l) => l.key === key)) out.push({ key });
        return leaves(element, `${key}[]`, out);
      }
      out.push({ key });
      return out;
    }
    default:
      out.push({ key });
      return out;
  }
}

/** Table rows of the doc by their YAML key: the cells after the key. */
function rows(): Map<string, { env: string; default: string }> {
  const map = new Map<string, { env: string; default: string }>();
  for (const line of DOC.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    const key = /^`([^`]+)`$/.exec(cells[1] ?? "");
    if (!key) continue;
    map.set(key[1], { env: cells[2], default: cells[3] });
  }
  return map;
}

function formatDefault(value: unknown): string {
  if (Array.isArray(value)) return value.length && typeof value[0] === "string" ? value.join(", ") : JSON.stringify(value);
  if (typeof value === "object" && value !== null) return JSON.stringify(value);
  return String(value);
}

const schemaLeaves = leaves(ConfigSchema, "");
const documented = rows();

describe("docs/configuration.md", () => {
  it("finds the schema's keys (sanity check of the walker)", () => {
    const keys = schemaLeaves.map((l) => l.key);
    expect(keys).toEqual(expect.arrayContaining(["listen", "storage.fsync", "mirror.upstreams[].url", "tls.certFile", "notifications.endpoints[].secret"]));
    expect(keys.length).toBeGreaterThan(50);
  });

  it.each(schemaLeaves.map((l) => [l.key, l] as const))("documents %s", (key, leaf) => {
    const row = documented.get(key);
    expect({ key, documented: row !== undefined }).toEqual({ key, documented: true });
    if (leaf.default !== undefined && !["storage.root"].includes(key)) {
      expect({ key, default: row!.default }).toEqual({ key, default: expect.stringContaining(`\`${formatDefault(leaf.default)}\``) });
    }
  });

  it("documents no key the schema does not have", () => {
    const known = new Set(schemaLeaves.map((l) => l.key));
    expect([...documented.keys()].filter((k) => !known.has(k))).toEqual([]);
  });

  it.each(Object.entries(ENV_KEYS))("documents %s in the row of its key", (name, spec) => {
    const key = spec.path.join(".");
    expect({ name, key, env: documented.get(key)?.env }).toEqual({ name, key, env: expect.stringContaining(`\`${name}\``) });
  });

  it("documents every other environment variable the config code reads", () => {
    const sources = ["src/config/index.ts", "src/config/ops.ts"].map((f) => readFileSync(path.join(ROOT, f), "utf8")).join("\n");
    const names = new Set(sources.match(/\b(BERTH_[A-Z0-9_]+|DATABASE_URL)\b/g));
    const missing = [...names].filter((n) => !DOC.includes(`\`${n}\``));
    expect(missing).toEqual([]);
  });
});
