import { IMAGE_MANIFEST_TYPES, INDEX_TYPES } from "../kernel/media-types";
import { parseJson } from "../kernel/text";

/** What the UI shows about a stored manifest, read from its own JSON (never from storage). */
export interface ManifestSummary {
  kind: "image" | "index" | "other";
  /** Image: the manifest, its config and its layers (compressed, as pulled). Index: null (sum children). */
  size: number | null;
  configDigest: string | null;
  configMediaType: string | null;
  configSize: number;
  layers: Array<{ digest: string; mediaType: string; size: number; urls?: string[] }>;
  /** Index: its children with their platforms. */
  children: Array<{ digest: string; mediaType: string; size: number; platform: Platform | null; attestation: boolean }>;
  artifactType: string | null;
  annotations: Record<string, string> | null;
  subject: string | null;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  "os.version"?: string;
}

export function summarizeManifest(mediaType: string, content: Buffer): ManifestSummary {
  let json: Record<string, unknown> = {};
  try {
    const parsed: unknown = parseJson(content.toString("utf8"));
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
  } catch {
    // Stored manifests were validated on push; a broken one shows as "other".
  }
  const base: ManifestSummary = {
    kind: "other",
    size: content.length,
    configDigest: null,
    configMediaType: null,
    configSize: 0,
    layers: [],
    children: [],
    artifactType: typeof json.artifactType === "string" ? json.artifactType : null,
    annotations: isStringMap(json.annotations) ? json.annotations : null,
    subject: descriptorOf(json.subject)?.digest ?? null,
  };
  if (IMAGE_MANIFEST_TYPES.has(mediaType)) {
    const config = descriptorOf(json.config);
    const layers = Array.isArray(json.layers) ? json.layers.map(descriptorOf).filter((d): d is Descriptor => d !== null) : [];
    return {
      ...base,
      kind: "image",
      size: content.length + (config?.size ?? 0) + layers.reduce((sum, l) => sum + l.size, 0),
      configDigest: config?.digest ?? null,
      configMediaType: config?.mediaType ?? null,
      configSize: config?.size ?? 0,
      layers: layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size, ...(l.urls ? { urls: l.urls } : {}) })),
    };
  }
  if (INDEX_TYPES.has(mediaType)) {
    const children = Array.isArray(json.manifests) ? json.manifests : [];
    return {
      ...base,
      kind: "index",
      size: null,
      children: children.flatMap((c) => {
        const d = descriptorOf(c);
        if (!d) return [];
        const platform = platformOf((c as Record<string, unknown>).platform);
        const annotations = (c as Record<string, unknown>).annotations;
        // BuildKit's provenance/SBOM attestations are listed as "unknown/unknown" children.
        const attestation = (isStringMap(annotations) && "vnd.docker.reference.type" in annotations) || (platform?.os === "unknown" && platform.architecture === "unknown");
        return [{ digest: d.digest, mediaType: d.mediaType, size: d.size, platform, attestation }];
      }),
    };
  }
  return base;
}

export function formatPlatform(p: Platform | null): string {
  if (!p) return "";
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
}

function descriptorOf(value: unknown): Descriptor | null {
  if (!value || typeof value !== "object") return null;
  const d = value as Record<string, unknown>;
  if (typeof d.digest !== "string" || typeof d.size !== "number") return null;
  const urls = Array.isArray(d.urls) ? d.urls.filter((u): u is string => typeof u === "string") : undefined;
  return { digest: d.digest, size: d.size, mediaType: typeof d.mediaType === "string" ? d.mediaType : "", ...(urls?.length ? { urls } : {}) };
}

function platformOf(value: unknown): Platform | null {
  if (!value || typeof value !== "object") return null;
  const p = value as Record<string, unknown>;
  if (typeof p.os !== "string" || typeof p.architecture !== "string") return null;
  return {
    os: p.os,
    architecture: p.architecture,
    ...(typeof p.variant === "string" ? { variant: p.variant } : {}),
    ...(typeof p["os.version"] === "string" ? { "os.version": p["os.version"] } : {}),
  };
}

function isStringMap(value: unknown): value is Record<string, string> {
  return !!value && typeof value === "object" && !Array.isArray(value) && Object.values(value).every((v) => typeof v === "string");
}

/** The image config fields `docker image inspect` shows, tolerant of missing or odd fields. */
export interface ImageConfigView {
  architecture: string | null;
  os: string | null;
  variant: string | null;
  created: string | null;
  author: string | null;
  entrypoint: string[] | null;
  cmd: string[] | null;
  env: string[];
  labels: Record<string, string>;
  exposedPorts: string[];
  volumes: string[];
  workingDir: string | null;
  user: string | null;
  stopSignal: string | null;
  history: Array<{ created: string | null; createdBy: string; comment: string | null; emptyLayer: boolean }>;
  diffIds: string[];
}

export function readImageConfig(raw: Buffer): ImageConfigView | null {
  let json: Record<string, unknown>;
  try {
    const parsed: unknown = parseJson(raw.toString("utf8"));
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return null;
    json = parsed as Record<string, unknown>;
  } catch {
    return null;
  }
  const config = (json.config && typeof json.config === "object" ? json.config : {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);
  const strList = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : null);
  const keys = (v: unknown) => (v && typeof v === "object" ? Object.keys(v) : []);
  const history = Array.isArray(json.history) ? json.history : [];
  const rootfs = (json.rootfs && typeof json.rootfs === "object" ? json.rootfs : {}) as Record<string, unknown>;
  return {
    architecture: str(json.architecture),
    os: str(json.os),
    variant: str(json.variant),
    created: str(json.created),
    author: str(json.author),
    entrypoint: strList(config.Entrypoint),
    cmd: strList(config.Cmd),
    env: strList(config.Env) ?? [],
    labels: isStringMap(config.Labels) ? config.Labels : {},
    exposedPorts: keys(config.ExposedPorts),
    volumes: keys(config.Volumes),
    workingDir: str(config.WorkingDir),
    user: str(config.User),
    stopSignal: str(config.StopSignal),
    history: history
      .filter((h): h is Record<string, unknown> => !!h && typeof h === "object")
      .map((h) => ({ created: str(h.created), createdBy: typeof h.created_by === "string" ? h.created_by : "", comment: str(h.comment), emptyLayer: h.empty_layer === true })),
    diffIds: strList(rootfs.diff_ids) ?? [],
  };
}

/** Pairs layers with the history entries that made them (docker history's view: empty entries have no layer). */
export function layerHistory<T>(layers: T[], history: ImageConfigView["history"]): Array<{ layer: T | null; step: ImageConfigView["history"][number] | null }> {
  const out: Array<{ layer: T | null; step: ImageConfigView["history"][number] | null }> = [];
  let i = 0;
  for (const step of history) {
    if (step.emptyLayer) out.push({ layer: null, step });
    else out.push({ layer: layers[i++] ?? null, step });
  }
  for (; i < layers.length; i++) out.push({ layer: layers[i], step: null });
  return out;
}
