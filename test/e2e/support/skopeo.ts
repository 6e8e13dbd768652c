// Thin wrappers over the skopeo CLI. TLS verification is always off (the registries under test are
// plain HTTP on 127.0.0.1) and the signature policy is bypassed (--insecure-policy), so the suite
// does not depend on /etc/containers/policy.json. Failures throw CommandError with skopeo's stderr.
import { createHash } from "node:crypto";
import { run, type RunResult } from "./process";
import { requireBinary } from "./tools";

export interface SkopeoCopyOptions {
  /** --all: copy every platform of an index instead of only the current one. */
  all?: boolean;
  /** --format: "v2s2" converts to Docker schema 2 (manifest list for --all), "oci" to OCI. */
  format?: "v2s2" | "oci";
  /** --preserve-digests: fail instead of silently changing a manifest. */
  preserveDigests?: boolean;
  srcCreds?: string;
  destCreds?: string;
  extraArgs?: string[];
}

/** "docker://HOST/REPO:TAG" or, for a "sha256:..." reference, "docker://HOST/REPO@sha256:...". */
export function dockerRef(host: string, repo: string, tagOrDigest = "latest"): string {
  return `docker://${host}/${repo}${tagOrDigest.includes(":") ? "@" : ":"}${tagOrDigest}`;
}

/** "oci:DIR:TAG" for an OCI image layout directory. */
export function ociRef(dir: string, tag = "latest"): string {
  return `oci:${dir}:${tag}`;
}

function skopeo(args: string[]): Promise<RunResult> {
  return run(requireBinary("skopeo"), ["--insecure-policy", ...args]);
}

/** skopeo copy SRC DEST; both sides with TLS verification off. */
export function skopeoCopy(src: string, dest: string, opts: SkopeoCopyOptions = {}): Promise<RunResult> {
  const args = ["copy", "--src-tls-verify=false", "--dest-tls-verify=false"];
  if (opts.all) args.push("--all");
  if (opts.format) args.push("--format", opts.format);
  if (opts.preserveDigests) args.push("--preserve-digests");
  if (opts.srcCreds) args.push("--src-creds", opts.srcCreds);
  if (opts.destCreds) args.push("--dest-creds", opts.destCreds);
  args.push(...(opts.extraArgs ?? []), src, dest);
  return skopeo(args);
}

export interface RawManifest {
  /** Exactly the bytes the registry served. */
  bytes: Buffer;
  /** sha256 of bytes: the manifest digest. */
  digest: string;
  mediaType: string | undefined;
  json: Record<string, unknown>;
}

function rawManifest(bytes: Buffer): RawManifest {
  const json = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
  return {
    bytes,
    digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
    mediaType: typeof json.mediaType === "string" ? json.mediaType : undefined,
    json,
  };
}

/** skopeo inspect --raw: the manifest (or index) as stored, with its digest computed locally. */
export async function skopeoInspectRaw(ref: string, creds?: string): Promise<RawManifest> {
  const args = ["inspect", "--tls-verify=false", "--raw"];
  if (creds) args.push("--creds", creds);
  return rawManifest((await skopeo([...args, ref])).stdout);
}

/** skopeo inspect --config --raw: the image config blob of the (current-platform) image. */
export async function skopeoInspectConfig(ref: string, creds?: string): Promise<Record<string, unknown>> {
  const args = ["inspect", "--tls-verify=false", "--config", "--raw"];
  if (creds) args.push("--creds", creds);
  return JSON.parse((await skopeo([...args, ref])).stdout.toString("utf8")) as Record<string, unknown>;
}

/** skopeo list-tags docker://HOST/REPO -> the tag list. */
export async function skopeoListTags(repoRef: string, creds?: string): Promise<string[]> {
  const args = ["list-tags", "--tls-verify=false"];
  if (creds) args.push("--creds", creds);
  const out = JSON.parse((await skopeo([...args, repoRef])).stdout.toString("utf8")) as { Tags?: string[] | null };
  return out.Tags ?? [];
}

/** skopeo delete: resolves the tag to a digest and DELETEs the manifest by digest. */
export async function skopeoDelete(ref: string, creds?: string): Promise<void> {
  const args = ["delete", "--tls-verify=false"];
  if (creds) args.push("--creds", creds);
  await skopeo([...args, ref]);
}
