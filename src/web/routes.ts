import { randomUUID } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import path from "node:path";
import { z } from "zod";
import type { AuthComponents } from "../auth";
import type { EventBus } from "../events/event-bus";
import type { Config } from "../config";
import type { Stores } from "../metadata/stores";
import type { MetadataStore } from "../metadata/store";
import type { RegistryServices } from "../oci/routes";
import type { Mirror } from "../proxy";
import type { Handler, RequestContext } from "../http/context";
import type { RouteTable } from "../http/route-table";
import { send, sendJson } from "../http/respond";
import { readJson } from "../http/json-body";
import { smallBody, streamedBody } from "../http/body-policy";
import { clientIp } from "../http/client-info";
import { eventOrigin, noteCaller } from "../http/event-origin";
import { DomainError } from "../kernel/errors";
import { OciError, toOciError } from "../http/errors";
import { parseRepositoryName, parseTag, type RepositoryName } from "../kernel/names";
import { parseManifestReference } from "../kernel/references";
import { isAdminCaller, type Caller } from "../admin/admin-gate";
import { registerGcRoutes, type GcService as GcApi } from "../admin/gc-api";
import type { Digest } from "../kernel/digest";
import type { TagImmutability } from "../registry/manifest-service";
import { WebAccess } from "./access";
import { copyImage } from "./image-copy";
import { archiveLength, planExport, writeImageArchive, type ExportRequest } from "./image-export";
import { archiveError, extractArchive, fileStream, importArchive, type ImportSink } from "./image-import";
import { isMultipart, MULTIPART_OVERHEAD_BYTES, receiveArchive } from "./archive-upload";
import { ImportSlots } from "./import-guard";
import { diskCopies, DiskLedger, roomAsUnpacked, type DiskReservation } from "./disk-ledger";
import { layerHistory, readImageConfig, summarizeManifest } from "./image-info";
import { REPOSITORY_SORTS, TAG_SORTS, type WebQueries } from "../metadata/web-queries";
import { listArtifacts, listTags } from "./repository-queries";
import { ConfigPlatforms } from "./config-platforms";
import { parseJson } from "../kernel/text";
import { clearedCookieHeader, csrfMatches, isHttps, requestSession, sessionCookie, sessionCookieHeader } from "../http/session-cookie";

export interface WebDeps {
  config: Config;
  stores: Stores;
  store: MetadataStore;
  services: RegistryServices;
  auth: AuthComponents;
  events: EventBus;
  mirror: Mirror | null;
  /** The garbage collector in the admin API's shape (src/admin/gc-adapter.ts); null hides the GC pages. */
  gc?: GcApi | null;
  /** The immutability rules in force, to mark immutable tags in lists. */
  immutability: TagImmutability;
}

const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

/**
 * The JSON API behind the web UI (next to the admin API of ../admin/routes.ts): the browser session,
 * repositories and tags from Postgres, image details, delete, retag/copy, import and export of image
 * archives, storage use and GC, plus the Docker v1 search endpoint. Every repository operation is checked
 * against the same AccessPolicy as the registry API, and recorded as the registry event it amounts to
 * (marked via "web"), so webhooks hear of it as they hear of /v2.
 */
export function registerWebRoutes(router: RouteTable, deps: WebDeps): void {
  const access = new WebAccess(deps);
  const importSlots = new ImportSlots({ total: deps.config.web.importConcurrency, perUser: deps.config.web.importConcurrencyPerUser });
  const importRoot = path.join(deps.config.dataDir, "tmp");
  const diskLedger = new DiskLedger(importRoot, deps.config.web.importMinFreeBytes);
  const queries = deps.stores.web;
  const platforms = new ConfigPlatforms(deps.services.blobs);
  /** The repository (404 when it holds no manifest) and what its lists need. */
  const lister = async (repository: RepositoryName) => {
    const repo = await queries.findRepository(repository);
    if (!repo) throw new DomainError("NameUnknown", { name: repository });
    return { queries, platforms, repository, repositoryId: repo.id };
  };
  const json = (ctx: RequestContext, value: unknown, status = 200, headers: Record<string, string> = {}) =>
    sendJson(ctx.res, status, { "Cache-Control": "no-store", ...headers }, value);
  const origin = (ctx: RequestContext, caller: Caller) => eventOrigin(ctx.req, caller);
  const registryHost = (req: IncomingMessage) => (deps.config.externalUrl ? new URL(deps.config.externalUrl).host : String(req.headers.host ?? "localhost"));
  const repoParam = (ctx: RequestContext) => parseRepositoryName(ctx.params[0]);

  /** Who the caller is and that they may `action` the repository; anonymous callers may read public ones. */
  const onRepository = (action: "pull" | "push" | "delete", handler: (ctx: RequestContext, caller: Caller, repository: RepositoryName) => Promise<void>): Handler =>
    async (ctx) => {
      const repository = repoParam(ctx);
      const caller = await access.caller(ctx.req, { allowAnonymous: action === "pull" });
      await access.require(caller, repository, action);
      await handler(ctx, caller, repository);
    };

  // ---- the browser session ----
  const sessionInfo = async (req: IncomingMessage, caller: Caller | null, csrfToken: string | null) => ({
    authEnabled: access.authEnabled,
    user: caller && caller.kind !== "anonymous" ? { name: caller.name, kind: caller.kind, isAdmin: isAdminCaller(caller) } : null,
    csrfToken,
    registry: registryHost(req),
    mirror: deps.mirror !== null,
    gc: !!deps.gc,
  });

  router
    .on("GET", /^\/api\/v1\/session$/, async (ctx) => {
      if (!access.authEnabled) return json(ctx, await sessionInfo(ctx.req, { kind: "open", name: "" }, null));
      const session = await requestSession(ctx.req, deps.auth.token!.sessions);
      json(ctx, await sessionInfo(ctx.req, session?.principal ?? null, session?.csrfToken ?? null));
    })
    .on("POST", /^\/api\/v1\/session$/, async (ctx) => {
      // JSON only: a cross-site HTML form cannot send it, so no other site can log a browser in (login CSRF).
      if (!/^application\/json\b/i.test(String(ctx.req.headers["content-type"] ?? ""))) {
        throw new OciError("INVALID_REQUEST", "send the credentials as application/json");
      }
      const body = await readBody(ctx, z.object({ username: z.string().min(1).max(200), password: z.string().min(1).max(1000) }).strict());
      if (!access.authEnabled) return json(ctx, await sessionInfo(ctx.req, { kind: "open", name: "" }, null));
      const { authenticator, sessions } = deps.auth.token!;
      const principal = noteCaller(ctx.req, await authenticator.login(body.username, body.password, clientIp(ctx.req), { fresh: true }));
      if (principal.kind !== "user") throw new OciError("DENIED", "robot accounts cannot sign in to the web UI");
      const { token, session } = await sessions!.create(principal);
      const secure = isHttps(ctx.req, deps.config.externalUrl);
      json(ctx, await sessionInfo(ctx.req, principal, session.csrfToken), 200, {
        "Set-Cookie": sessionCookieHeader(token, deps.config.web.sessionTtlSeconds, secure),
      });
    }, JSON_BODY)
    .on("DELETE", /^\/api\/v1\/session$/, async (ctx) => {
      const token = sessionCookie(ctx.req);
      const sessions = deps.auth.token?.sessions;
      if (token && sessions) {
        const session = await requestSession(ctx.req, sessions);
        if (session && !csrfMatches(ctx.req, session.csrfToken)) throw new OciError("DENIED", "missing or wrong CSRF token (X-Berth-CSRF header)");
        if (session) {
          await sessions.destroy(token);
          deps.events.record({ ...eventOrigin(ctx.req, session.principal), action: "logout", detail: {} });
        }
      }
      send(ctx.res, 204, { "Set-Cookie": clearedCookieHeader(isHttps(ctx.req, deps.config.externalUrl)), "Cache-Control": "no-store" });
    });

  // ---- repositories and tags ----
  router
    .on("GET", /^\/api\/v1\/repositories$/, async (ctx) => {
      const caller = await access.caller(ctx.req, { allowAnonymous: true });
      const q = (ctx.query.get("q") ?? "").trim().toLowerCase().slice(0, 255) || undefined;
      const project = ctx.query.get("project") || undefined;
      const sort = oneOf(ctx.query, "sort", REPOSITORY_SORTS, "name");
      const order = oneOf(ctx.query, "order", ["asc", "desc"] as const, sort === "name" ? "asc" : "desc");
      const page = pageOf(ctx.query);
      const result = await queries.listRepositories({ visibility: await access.visibility(caller), mirrored: access.mirrored(), q, project }, sort, order, page);
      json(ctx, { ...page, ...result });
    })
    .on("GET", /^\/api\/v1\/repositories\/(.+)\/-\/artifacts$/, onRepository("pull", async (ctx, _caller, repository) => {
      const untagged = oneOf(ctx.query, "untagged", ["true", "false"] as const, "false") === "true";
      const page = pageOf(ctx.query);
      const artifacts = await listArtifacts(await lister(repository), untagged, page);
      json(ctx, {
        ...page,
        ...artifacts,
        items: artifacts.items.map((a) => ({ ...a, immutableTags: a.tags.filter((tag) => deps.immutability.ruleFor(repository, tag) !== null) })),
      });
    }))
    .on("GET", /^\/api\/v1\/repositories\/(.+)\/-\/tags$/, onRepository("pull", async (ctx, _caller, repository) => {
      const sort = oneOf(ctx.query, "sort", TAG_SORTS, "pushed");
      const order = oneOf(ctx.query, "order", ["asc", "desc"] as const, sort === "name" ? "asc" : "desc");
      const page = pageOf(ctx.query);
      const q = (ctx.query.get("q") ?? "").trim().slice(0, 128) || undefined;
      const tags = await listTags(await lister(repository), q, sort, order, page);
      json(ctx, { ...page, ...tags, items: tags.items.map((tag) => ({ ...tag, immutable: deps.immutability.ruleFor(repository, tag.name) !== null })) });
    }))
    .on("DELETE", /^\/api\/v1\/repositories\/(.+)\/-\/tags\/([^/]+)$/, onRepository("delete", async (ctx, caller, repository) => {
      const tag = parseTag(ctx.params[1]);
      await deps.services.manifests.delete(repository, { tag });
      deps.events.record({ ...origin(ctx, caller), action: "delete", repository, reference: tag, detail: { via: "web" } });
      send(ctx.res, 204, {});
    }))
    .on("GET", /^\/api\/v1\/repositories\/(.+)\/-\/manifests\/([^/]+)$/, onRepository("pull", async (ctx, _caller, repository) => {
      json(ctx, await imageDetails(deps, queries, repository, ctx.params[1]));
    }))
    .on("DELETE", /^\/api\/v1\/repositories\/(.+)\/-\/manifests\/([^/]+)$/, onRepository("delete", async (ctx, caller, repository) => {
      const reference = parseManifestReference(ctx.params[1]);
      if (!("digest" in reference)) throw new OciError("INVALID_REQUEST", "delete a manifest by digest (a tag is deleted under /-/tags/)");
      await deps.services.manifests.delete(repository, reference);
      deps.events.record({ ...origin(ctx, caller), action: "delete", repository, reference: reference.digest, detail: { via: "web" } });
      send(ctx.res, 204, {});
    }))
    .on("POST", /^\/api\/v1\/repositories\/(.+)\/-\/copy$/, onRepository("pull", async (ctx, caller, repository) => {
      const body = await readBody(ctx, z.object({ reference: z.string().min(1), repository: z.string().optional(), tag: z.string().min(1) }).strict());
      const target = parseRepositoryName(body.repository || repository);
      const tag = parseTag(body.tag);
      const reference = parseManifestReference(body.reference);
      await access.require(caller, target, "push");
      await access.beforeWrite(caller, target);
      const copied = await copyImage(deps.store, repository, reference, target, tag, deps.immutability);
      deps.events.record({
        ...origin(ctx, caller),
        action: "push",
        repository: target,
        reference: tag,
        detail: { digest: copied.digest, mediaType: copied.mediaType, via: "web", copiedFrom: `${repository}@${copied.digest}` },
      });
      json(ctx, { repository: target, tag, digest: copied.digest, mediaType: copied.mediaType }, 201);
    }), JSON_BODY)
    .on("GET", /^\/api\/v1\/repositories\/(.+)\/-\/export\/([^/]+)$/, onRepository("pull", async (ctx, caller, repository) => {
      const request = exportRequest(ctx.query);
      const reference = parseManifestReference(ctx.params[1]);
      const top = await deps.store.findManifest(repository, reference);
      if (!top) throw new DomainError("ManifestUnknown", ctx.params[1]);
      const plan = await planExport(deps.store, deps.services.blobs, repository, top, request);
      const tag = "tag" in reference ? reference.tag : null;
      const repoTag = tag ? `${registryHost(ctx.req)}/${repository}:${tag}` : null;
      const length = archiveLength(plan, repoTag, tag);
      const file = `${repository.replace(/\//g, "_")}_${tag ?? top.digest.slice(7, 19)}${plan.platform ? `_${plan.platform.replace(/\//g, "-")}` : ""}${request.format === "oci" ? ".oci" : ""}.tar`;
      ctx.res.statusCode = 200;
      ctx.res.setHeader("Content-Type", "application/x-tar");
      ctx.res.setHeader("Content-Disposition", `attachment; filename="${file}"`);
      ctx.res.setHeader("Cache-Control", "no-store");
      ctx.res.setHeader("Docker-Content-Digest", plan.top.digest);
      if (length !== null) ctx.res.setHeader("Content-Length", String(length));
      // HEAD answers from metadata alone: streaming blobs from storage only for node to drop them, and
      // counting a pull nobody made, would let a HEAD flood cost what a download flood costs.
      if (ctx.req.method === "HEAD") return void ctx.res.end();
      deps.events.record({ ...origin(ctx, caller), action: "pull", repository, reference: ctx.params[1], detail: { digest: plan.top.digest, via: "web", export: true } });
      await writeImageArchive(ctx.res, plan, repository, deps.services.blobs, repoTag, tag);
    }))
    .on("POST", /^\/api\/v1\/repositories\/(.+)\/-\/import$/, onRepository("push", async (ctx, caller, repository) => {
      const tagParam = ctx.query.get("tag");
      const tag = tagParam ? parseTag(tagParam) : null;
      await access.beforeWrite(caller, repository);
      const limits = deps.config.web;
      const release = importSlots.take(caller.kind === "user" || caller.kind === "robot" ? `${caller.kind}:${caller.id}` : `address:${clientIp(ctx.req)}`);
      const work = path.join(importRoot, `import-${randomUUID()}`);
      let reservation: DiskReservation | null = null;
      try {
        await mkdir(importRoot, { recursive: true });
        // What the body declares it unpacks to at least (a plain tar); more is claimed step by step as it unpacks.
        const covered = Math.min(Number(ctx.req.headers["content-length"]) || 0, limits.importMaxExpandedBytes);
        const copies = await diskCopies(deps.config.storage, importRoot);
        reservation = await diskLedger.reserve(covered * copies);
        await mkdir(work);
        const room = roomAsUnpacked(reservation, covered, copies);
        const written = reservation.wrote;
        const files = await receiveArchive(ctx.req, ctx.res, limits.importMaxBytes, (stream) =>
          extractArchive(stream, work, { maxBytes: limits.importMaxExpandedBytes, maxRatio: limits.importMaxExpansionRatio, maxEntries: 100_000, room, written }),
        );
        const result = await importArchive(files, tag, importSink(deps, repository));
        for (const image of result.images) {
          deps.events.record({
            ...origin(ctx, caller),
            action: "push",
            repository,
            reference: image.tag ?? image.digest,
            detail: { digest: image.digest, mediaType: image.mediaType, via: "web", import: result.format },
          });
        }
        json(ctx, { repository, ...result }, 201);
      } finally {
        // Nothing writes to `work` any more (the pipeline has settled): what it holds, statfs shows.
        reservation?.release();
        await rm(work, { recursive: true, force: true });
        release();
      }
    }), IMPORT_BODY)
    .on("GET", /^\/api\/v1\/repositories\/((?:(?!\/-\/).)+)$/, onRepository("pull", async (ctx, caller, repository) => {
      const repo = await queries.findRepository(repository);
      if (!repo) throw new DomainError("NameUnknown", { name: repository });
      const { id: _id, ...view } = repo;
      json(ctx, { ...view, actions: await access.actions(caller, repository) });
    }));

  // ---- docker search <host>/<term> (the v1 search API Docker Hub and Nexus serve) ----
  router.on("GET", /^\/v1\/search\/?$/, async (ctx) => {
    const caller = await access.caller(ctx.req, { allowAnonymous: true, anyToken: true });
    const q = (ctx.query.get("q") ?? "").trim().toLowerCase().slice(0, 255);
    const n = Math.min(Math.max(intParam(ctx.query, "n", 25), 1), 100);
    const page = Math.max(intParam(ctx.query, "page", 1), 1);
    const result = await queries.listRepositories({ visibility: await access.visibility(caller), mirrored: access.mirrored(), q: q || undefined }, "name", "asc", { page, pageSize: n });
    json(ctx, {
      query: q,
      num_results: result.total,
      num_pages: Math.ceil(result.total / n),
      page,
      page_size: n,
      results: result.items.map((r) => ({ name: r.name, description: "", star_count: 0, pull_count: r.pullCount, is_official: false, is_automated: false, is_trusted: false })),
    });
  });

  // ---- storage use and garbage collection ----
  registerGcRoutes(router, {
    gc: () => deps.gc ?? null,
    requireAdmin: async (ctx) => {
      const caller = await access.caller(ctx.req);
      access.requireAdmin(caller);
      return eventOrigin(ctx.req, caller);
    },
    events: deps.events,
  });
}

async function imageDetails(deps: WebDeps, queries: WebQueries, repository: RepositoryName, ref: string) {
  const reference = parseManifestReference(ref);
  const manifest = await deps.store.findManifest(repository, reference);
  if (!manifest) throw new DomainError("ManifestUnknown", "tag" in reference ? { tag: reference.tag } : { digest: reference.digest });
  const repo = await queries.findRepository(repository);
  const summary = summarizeManifest(manifest.mediaType, manifest.content);
  const [tags, dates, referrers] = await Promise.all([
    repo ? queries.tagsOf(repo.id, manifest.digest) : [],
    repo ? queries.manifestDates(repo.id, manifest.digest) : null,
    deps.store.listReferrers(repository, manifest.digest),
  ]);
  let config = null;
  let configError: string | null = null;
  if (summary.kind === "image" && summary.configDigest) {
    try {
      config = readImageConfig(await readBlob(deps, repository, summary.configDigest as Digest));
      if (!config) configError = "the image config is not JSON";
    } catch (err) {
      const known = err instanceof DomainError || err instanceof OciError ? toOciError(err) : null;
      configError = known ? `${known.code}: ${typeof known.detail === "string" ? known.detail : known.message}` : "the image config could not be read";
    }
  }
  const children = [];
  for (const child of summary.children) {
    const stored = await deps.store.findManifest(repository, { digest: child.digest as Digest });
    children.push({ ...child, stored: !!stored, size: stored ? summarizeManifest(stored.mediaType, stored.content).size : child.size });
  }
  let json: unknown = null;
  try {
    json = parseJson(manifest.content.toString("utf8"));
  } catch {
    // shown raw as nothing: stored manifests were validated on push
  }
  return {
    repository,
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    kind: summary.kind,
    size: summary.kind === "index" ? manifest.content.length + children.reduce((s, c) => s + (c.size ?? 0), 0) : summary.size,
    manifestSize: manifest.content.length,
    tags,
    createdAt: dates?.createdAt ?? null,
    lastPulledAt: dates?.lastPulledAt ?? null,
    artifactType: summary.artifactType,
    annotations: summary.annotations,
    subject: summary.subject,
    config,
    configDigest: summary.configDigest,
    configMediaType: summary.configMediaType,
    configError,
    layers: summary.kind === "image" ? layerHistory(summary.layers, config?.history ?? []) : [],
    children,
    referrers,
    manifest: json,
  };
}

async function readBlob(deps: WebDeps, repository: RepositoryName, digest: Digest): Promise<Buffer> {
  const blob = await deps.services.blobs.stat(repository, digest);
  if (blob.size > MAX_CONFIG_BYTES) throw new DomainError("SizeInvalid", `config larger than ${MAX_CONFIG_BYTES} bytes`);
  const chunks: Buffer[] = [];
  for await (const chunk of await deps.services.blobs.open(repository, blob)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function importSink(deps: WebDeps, repository: RepositoryName): ImportSink {
  return {
    hasBlob: async (digest) => (await deps.store.findLinkedBlob(repository, digest)) !== null,
    putBlob: async (digest, file) => {
      try {
        await deps.services.uploads.uploadWhole(repository, digest, fileStream(file));
      } catch (err) {
        if (err instanceof DomainError && err.code === "DigestInvalid") throw archiveError(`blob ${digest} does not match its digest (the archive is damaged)`);
        throw err;
      }
    },
    putManifest: async (reference, content, mediaType) => {
      await deps.services.manifests.put(repository, reference, content, mediaType);
    },
  };
}

const MAX_JSON_BYTES = 64 * 1024;
const JSON_BODY = smallBody(MAX_JSON_BYTES);
/**
 * An image archive streams in (raw, or as a form's file) up to web.importMaxBytes, under no whole-request
 * timeout: the one limit of a raw body; a form may add its framing (multer holds its file to the limit).
 */
const IMPORT_BODY = streamedBody("web.importMaxBytes", (limits, req) => limits.web.importMaxBytes + (isMultipart(req) ? MULTIPART_OVERHEAD_BYTES : 0));
const readBody = <T>(ctx: RequestContext, schema: z.ZodType<T>) => readJson(ctx, schema, MAX_JSON_BYTES);

function oneOf<T extends string>(query: URLSearchParams, name: string, allowed: readonly T[], fallback: T): T {
  const value = query.get(name);
  if (value === null || value === "") return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new OciError("INVALID_REQUEST", `${name} must be one of ${allowed.join(", ")}`);
  return value as T;
}

/** Export's query: `platform` (os/arch[/variant] or "all") and `format` (docker, the default, or oci). */
function exportRequest(query: URLSearchParams): ExportRequest {
  const platform = query.get("platform") || null;
  if (platform !== null && platform !== "all" && !/^[a-z0-9][a-z0-9._-]{0,31}\/[a-z0-9][a-z0-9._-]{0,31}(\/[a-z0-9][a-z0-9._-]{0,31})?$/.test(platform)) {
    throw new OciError("INVALID_REQUEST", "platform must be os/arch[/variant] (e.g. linux/arm64/v8) or all");
  }
  return { platform, format: oneOf(query, "format", ["docker", "oci"] as const, "docker") };
}

function intParam(query: URLSearchParams, name: string, fallback: number): number {
  const raw = query.get(name);
  if (raw === null || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new OciError("INVALID_REQUEST", `${name} must be an integer`);
  return n;
}

function pageOf(query: URLSearchParams): { page: number; pageSize: number } {
  const page = intParam(query, "page", 1);
  const pageSize = intParam(query, "pageSize", 25);
  if (page < 1 || page > 1_000_000) throw new OciError("INVALID_REQUEST", "page must be 1 or more");
  if (pageSize < 1 || pageSize > 100) throw new OciError("INVALID_REQUEST", "pageSize must be 1..100");
  return { page, pageSize };
}
