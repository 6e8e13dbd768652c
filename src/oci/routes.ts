import type { EventSink } from "../events/event-bus";
import type { Authorizer } from "../auth/authorizer";
import { clientInfo } from "../http/client-info";
import type { Handler } from "../http/context";
import type { RouteTable } from "../http/route-table";
import { send } from "../http/respond";
import { smallBody, streamedBody } from "../http/body-policy";
import type { BlobServiceApi } from "../registry/blob-service";
import type { ManifestServiceApi } from "../registry/manifest-service";
import type { UploadService } from "../registry/upload-service";
import { ACCESS, type AccessRule } from "./access";
import { blobHandlers } from "./handlers/blobs";
import { listingHandlers } from "./handlers/listing";
import { manifestHandlers, MAX_MANIFEST_BYTES } from "./handlers/manifests";
import { uploadHandlers } from "./handlers/uploads";
import { recordingQuotaRefusals } from "./handlers/quota-refusal";

export interface RegistryServices {
  uploads: UploadService;
  blobs: BlobServiceApi;
  manifests: ManifestServiceApi;
}

export interface OciRouteDeps {
  services: RegistryServices;
  authorizer: Authorizer;
  /** Where pushes, pulls and deletes are recorded (the event bus: audit log + notifications). */
  audit: EventSink;
  /** Mirror mode: maps containerd's `?ns=<registry>` onto our repository names. */
  namespaced?: (ns: string, name: string) => string;
}

/** The /v2 API. Names hold slashes, so each route is anchored on what follows the name. */
export function registerOciRoutes(router: RouteTable, deps: OciRouteDeps): void {
  const { services, authorizer, audit } = deps;
  const guard =
    (rule: AccessRule, handler: Handler): Handler =>
    async (ctx) => {
      const ns = ctx.query.get("ns");
      if (ns !== null && deps.namespaced && ctx.params.length) ctx.params[0] = deps.namespaced(ns, ctx.params[0]);
      ctx.grant = await authorizer.authorize({ authorization: ctx.req.headers.authorization, client: clientInfo(ctx.req) }, rule(ctx));
      return handler(ctx);
    };
  const blobs = blobHandlers(services.blobs, audit);
  const uploads = uploadHandlers(services.uploads, services.blobs);
  const manifests = manifestHandlers(services.manifests, audit);
  const listing = listingHandlers(services.manifests);
  // Blob bodies stream to storage untouched (no body parser), held to http.maxBlobBytes (0: no limit).
  const blobBody = streamedBody("http.maxBlobBytes", (limits) => limits.http.maxBlobBytes);
  const base: Handler = async (ctx) => send(ctx.res, 200, { "Content-Type": "application/json" }, "{}");

  router
    .on(["GET", "HEAD"], /^\/v2\/?$/, guard(ACCESS.identity, base))
    .on("GET", /^\/v2\/_catalog$/, guard(ACCESS.catalog, listing.catalog))
    .on("POST", /^\/v2\/(.+)\/blobs\/uploads\/?$/, guard(ACCESS.uploadStart, recordingQuotaRefusals(audit, uploads.start)), blobBody)
    .on("GET", /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, guard(ACCESS.push, uploads.status))
    .on("PATCH", /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, guard(ACCESS.push, uploads.append), blobBody)
    .on("PUT", /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, guard(ACCESS.push, recordingQuotaRefusals(audit, uploads.finish)), blobBody)
    .on("DELETE", /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, guard(ACCESS.push, uploads.cancel))
    .on(["GET", "HEAD"], /^\/v2\/(.+)\/blobs\/([^/]+)$/, guard(ACCESS.pull, blobs.get))
    .on("DELETE", /^\/v2\/(.+)\/blobs\/([^/]+)$/, guard(ACCESS.delete, blobs.delete))
    .on(["GET", "HEAD"], /^\/v2\/(.+)\/manifests\/([^/]+)$/, guard(ACCESS.pull, manifests.get))
    .on("PUT", /^\/v2\/(.+)\/manifests\/([^/]+)$/, guard(ACCESS.push, recordingQuotaRefusals(audit, manifests.put)), smallBody(MAX_MANIFEST_BYTES))
    .on("DELETE", /^\/v2\/(.+)\/manifests\/([^/]+)$/, guard(ACCESS.delete, manifests.delete))
    .on("GET", /^\/v2\/(.+)\/tags\/list$/, guard(ACCESS.pull, listing.tags))
    .on("GET", /^\/v2\/(.+)\/referrers\/([^/]+)$/, guard(ACCESS.pull, listing.referrers));
}
