// Helpers for the web UI's API tests: a browser-like session (cookie + CSRF header), Basic-auth calls,
// seeding images straight through the registry's services, and image archives built in memory.
import { Readable } from "node:stream";
import { pack as tarPack } from "tar-stream";
import type { Deps } from "../../src/deps";
import { parseRepositoryName, parseTag } from "../../src/kernel/names";
import { parseDigest } from "../../src/kernel/digest";
import type { BuiltImage, BuiltManifest } from "./oci-client";

export interface Session {
  cookie: string;
  csrf: string;
}

export type As = Session | { basic: [string, string] } | null;

export async function login(base: string, username: string, password: string): Promise<Session> {
  const res = await fetch(`${base}/api/v1/session`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Berth-CSRF": "-" },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 200) throw new Error(`login ${username}: ${res.status} ${await res.text()}`);
  const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0];
  const body = (await res.json()) as { csrfToken: string };
  return { cookie, csrf: body.csrfToken };
}

export function headersFor(as: As, extra: Record<string, string> = {}): Record<string, string> {
  if (!as) return extra;
  if ("basic" in as) return { Authorization: `Basic ${Buffer.from(as.basic.join(":")).toString("base64")}`, ...extra };
  return { Cookie: as.cookie, "X-Berth-CSRF": as.csrf, ...extra };
}

export async function api(base: string, method: string, path: string, as: As, body?: unknown): Promise<Response> {
  const init: RequestInit = { method, headers: headersFor(as, body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  return fetch(`${base}${path}`, init);
}

/** Pushes an image (or an index whose children were pushed) through the services, bypassing HTTP and auth. */
export async function seedImage(deps: Deps, repo: string, image: BuiltImage, tag?: string): Promise<void> {
  const repository = parseRepositoryName(repo);
  for (const blob of [image.config, ...image.layers]) {
    await deps.services.uploads.uploadWhole(repository, parseDigest(blob.descriptor.digest), Readable.from([blob.data]));
  }
  await seedManifest(deps, repo, image, tag);
}

export async function seedManifest(deps: Deps, repo: string, manifest: BuiltManifest, tag?: string): Promise<void> {
  await deps.services.manifests.put(
    parseRepositoryName(repo),
    tag ? { tag: parseTag(tag) } : { digest: parseDigest(manifest.digest) },
    manifest.bytes,
    manifest.mediaType,
  );
}

/** A tar archive in memory; `gzip` compresses it. Entries: files (Buffer), symlinks and directories. */
export async function tarOf(entries: Array<{ name: string; data?: Buffer; symlink?: string; dir?: boolean }>): Promise<Buffer> {
  const tar = tarPack();
  const chunks: Buffer[] = [];
  tar.on("data", (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => tar.on("end", resolve).on("error", reject));
  for (const e of entries) {
    if (e.dir) tar.entry({ name: e.name, type: "directory" });
    else if (e.symlink) tar.entry({ name: e.name, type: "symlink", linkname: e.symlink });
    else tar.entry({ name: e.name }, e.data ?? Buffer.alloc(0));
  }
  tar.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Reads a tar archive's regular files into memory. */
export async function untar(data: Buffer): Promise<Map<string, Buffer>> {
  const { extract } = await import("tar-stream");
  const ex = extract();
  const files = new Map<string, Buffer>();
  const reading = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      if (entry.header.type === "file") files.set(entry.header.name, Buffer.concat(chunks));
    }
  })();
  ex.end(data);
  await reading;
  return files;
}

/** POSTs an archive as the browser does: a multipart form with the file in the field "file". */
export async function uploadArchive(base: string, repo: string, data: Buffer, as: As, tag?: string): Promise<Response> {
  const form = new FormData();
  form.append("file", new Blob([data]), "image.tar");
  const query = tag ? `?tag=${encodeURIComponent(tag)}` : "";
  return fetch(`${base}/api/v1/repositories/${repo}/-/import${query}`, { method: "POST", headers: headersFor(as), body: form });
}
