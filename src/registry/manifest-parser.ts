import { DomainError } from "../kernel/errors";
import { JsonInputError, parseJson } from "../kernel/text";
import { parseDigest, type Digest } from "../kernel/digest";
import { baseMediaType, IMAGE_MANIFEST_TYPES, MANIFEST_TYPES, MediaType, SCHEMA1_TYPES } from "../kernel/media-types";

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
}

export interface ParsedManifest {
  mediaType: string;
  /** Content this manifest needs in the same repository: config and layers, or an index's children. */
  references: Array<{ digest: Digest; kind: "blob" | "manifest" }>;
  subject: Digest | null;
  /** What the referrers API reports: the manifest's artifactType, else its config's media type. */
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

/**
 * Validates a pushed manifest (OCI image manifest/index, Docker schema 2 manifest/list) and extracts what
 * the registry must check and index. The bytes themselves are stored untouched: digests never change.
 */
export function parseManifest(content: Buffer, contentType: string | undefined): ParsedManifest {
  const headerType = baseMediaType(contentType);
  if (headerType && SCHEMA1_TYPES.has(headerType)) throw schema1();

  let json: unknown;
  try {
    json = parseJson(content.toString("utf8"));
  } catch (err) {
    throw invalid(err instanceof JsonInputError ? `manifest is ${err.message}` : "manifest is not valid JSON");
  }
  if (!isObject(json)) throw invalid("manifest must be a JSON object");
  if (json.schemaVersion === 1) throw schema1();
  if (json.schemaVersion !== 2) throw invalid("schemaVersion must be 2");

  const bodyType = optionalString(json, "mediaType");
  if (bodyType !== undefined && headerType && MANIFEST_TYPES.has(headerType) && bodyType !== headerType) {
    throw invalid(`mediaType ${bodyType} does not match Content-Type ${headerType}`);
  }
  const mediaType = bodyType ?? (headerType && MANIFEST_TYPES.has(headerType) ? headerType : inferMediaType(json));
  if (!MANIFEST_TYPES.has(mediaType)) throw invalid(`unsupported manifest media type: ${mediaType}`);

  const isOci = mediaType === MediaType.OCI_MANIFEST || mediaType === MediaType.OCI_INDEX;
  const subject = isOci && json.subject !== undefined ? descriptor(json.subject, "subject").digest : null;
  const annotations = json.annotations === undefined ? null : stringMap(json.annotations, "annotations");
  const declaredArtifactType = optionalString(json, "artifactType") ?? null;

  if (IMAGE_MANIFEST_TYPES.has(mediaType)) {
    const config = descriptor(json.config, "config");
    if (!Array.isArray(json.layers)) throw invalid("layers must be an array");
    const layers = json.layers.map((l, i) => descriptor(l, `layers[${i}]`));
    // Foreign (non-distributable) layers live at their URLs, not in this registry.
    const stored = layers.filter((l) => !l.urls?.length);
    return {
      mediaType,
      references: [config, ...stored].map((d) => ({ digest: d.digest, kind: "blob" as const })),
      subject,
      artifactType: declaredArtifactType ?? (mediaType === MediaType.OCI_MANIFEST ? config.mediaType : null),
      annotations,
    };
  }
  if (!Array.isArray(json.manifests)) throw invalid("manifests must be an array");
  const children = json.manifests.map((m, i) => descriptor(m, `manifests[${i}]`));
  return {
    mediaType,
    references: children.map((d) => ({ digest: d.digest, kind: "manifest" as const })),
    subject,
    artifactType: declaredArtifactType,
    annotations,
  };
}

function inferMediaType(json: Record<string, unknown>): string {
  if (json.config !== undefined) return MediaType.OCI_MANIFEST;
  if (json.manifests !== undefined) return MediaType.OCI_INDEX;
  throw invalid("cannot tell the manifest type: no mediaType, Content-Type, config or manifests");
}

function descriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  const mediaType = value.mediaType;
  if (typeof mediaType !== "string" || mediaType === "") throw invalid(`${where}.mediaType must be a non-empty string`);
  if (typeof value.digest !== "string") throw invalid(`${where}.digest must be a string`);
  let digest: Digest;
  try {
    digest = parseDigest(value.digest);
  } catch {
    throw invalid(`${where}.digest is not a valid digest: ${value.digest.slice(0, 140)}`);
  }
  const size = value.size;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`${where}.size must be a non-negative integer`);
  }
  const urls = value.urls;
  if (urls !== undefined && (!Array.isArray(urls) || !urls.every((u) => typeof u === "string"))) {
    throw invalid(`${where}.urls must be an array of strings`);
  }
  return { mediaType, digest, size, urls: urls as string[] | undefined };
}

function stringMap(value: unknown, where: string): Record<string, string> {
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === "string")) {
    throw invalid(`${where} must map strings to strings`);
  }
  return value as Record<string, string>;
}

function optionalString(obj: Record<string, unknown>, key: string): string | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw invalid(`${key} must be a string`);
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function invalid(detail: string): DomainError {
  return new DomainError("ManifestInvalid", detail);
}

function schema1(): DomainError {
  return invalid("Docker image manifest schema 1 is not supported; push with schema 2 or OCI (e.g. a current docker or skopeo --format v2s2)");
}
