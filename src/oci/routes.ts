import type { Router } from "../http/router";
import { send } from "../http/respond";
import type { BlobService } from "../registry/blob-service";
import type { ManifestService } from "../registry/manifest-service";
import type { UploadService } from "../registry/upload-service";
import { blobHandlers } from "./handlers/blobs";
import { listingHandlers } from "./handlers/listing";
import { manifestHandlers } from "./handlers/manifests";
import { uploadHandlers } from "./handlers/uploads";

export interface RegistryServices {
  uploads: UploadService;
  blobs: BlobService;
  manifests: ManifestService;
}

/** The /v2 API. Names hold slashes, so each route is anchored on what follows the name. */
export function registerOciRoutes(router: Router, services: RegistryServices): void {
  const blobs = blobHandlers(services.blobs);
  const uploads = uploadHandlers(services.uploads, services.blobs);
  const manifests = manifestHandlers(services.manifests);
  const listing = listingHandlers(services.manifests);

  router
    .on(["GET", "HEAD"], /^\/v2\/?$/, async (ctx) => send(ctx.res, 200, { "Content-Type": "application/json" }, "{}"))
    .on("GET", /^\/v2\/_catalog$/, listing.catalog)
    .on("POST", /^\/v2\/(.+)\/blobs\/uploads\/?$/, uploads.start)
    .on("GET", /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, uploads.status)
    .on("PATCH", /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, uploads.append)
    .on("PUT", /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, uploads.finish)
    .on("DELETE", /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, uploads.cancel)
    .on(["GET", "HEAD"], /^\/v2\/(.+)\/blobs\/([^/]+)$/, blobs.get)
    .on("DELETE", /^\/v2\/(.+)\/blobs\/([^/]+)$/, blobs.delete)
    .on(["GET", "HEAD"], /^\/v2\/(.+)\/manifests\/([^/]+)$/, manifests.get)
    .on("PUT", /^\/v2\/(.+)\/manifests\/([^/]+)$/, manifests.put)
    .on("DELETE", /^\/v2\/(.+)\/manifests\/([^/]+)$/, manifests.delete)
    .on("GET", /^\/v2\/(.+)\/tags\/list$/, listing.tags)
    .on("GET", /^\/v2\/(.+)\/referrers\/([^/]+)$/, listing.referrers);
}
