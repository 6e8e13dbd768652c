import type { RequestContext } from "../../http/context";
import { readSmallBody, send } from "../../http/respond";
import { OciError } from "../../http/errors";
import { parseRepositoryName } from "../../kernel/names";
import { parseManifestDeletion, parseManifestLookup, parseManifestReference } from "../request-parsers";
import { acceptsMediaType } from "../accept";
import type { ManifestServiceApi } from "../../registry/manifest-service";
import type { EventSink } from "../../events/event-bus";
import { actorOf } from "./audit-context";

/** Manifests are small; anything larger is refused before it is buffered. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export function manifestHandlers(manifests: ManifestServiceApi, audit: EventSink) {
  return {
    async get(ctx: RequestContext): Promise<void> {
      const repository = parseRepositoryName(ctx.params[0]);
      const reference = parseManifestLookup(ctx.params[1]);
      const manifest = await manifests.get(repository, reference);
      if (!acceptsMediaType(ctx.req.headers.accept, manifest.mediaType)) {
        throw new OciError("MANIFEST_UNKNOWN", `manifest is ${manifest.mediaType}, which the Accept header does not allow`);
      }
      const headers = {
        "Content-Type": manifest.mediaType,
        "Docker-Content-Digest": manifest.digest,
        ETag: `"${manifest.digest}"`,
        "Content-Length": manifest.content.length,
      };
      if (ctx.req.headers["if-none-match"] === headers.ETag) return send(ctx.res, 304, headers);
      if (ctx.req.method === "HEAD") return send(ctx.res, 200, headers);
      send(ctx.res, 200, headers, manifest.content);
      audit.record({
        ...actorOf(ctx),
        action: "pull",
        repository,
        reference: ctx.params[1],
        detail: { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.content.length },
      });
    },

    async put(ctx: RequestContext): Promise<void> {
      const repository = parseRepositoryName(ctx.params[0]);
      const reference = parseManifestReference(ctx.params[1]);
      const content = await readSmallBody(ctx.req, MAX_MANIFEST_BYTES);
      const stored = await manifests.put(repository, reference, content, ctx.req.headers["content-type"]);
      audit.record({
        ...actorOf(ctx),
        action: "push",
        repository,
        reference: ctx.params[1],
        detail: { digest: stored.digest, mediaType: stored.mediaType, size: content.length },
      });
      send(ctx.res, 201, {
        Location: `/v2/${repository}/manifests/${stored.digest}`,
        "Docker-Content-Digest": stored.digest,
        ...(stored.subject ? { "OCI-Subject": stored.subject } : {}),
      });
    },

    async delete(ctx: RequestContext): Promise<void> {
      const repository = parseRepositoryName(ctx.params[0]);
      await manifests.delete(repository, parseManifestDeletion(ctx.params[1]));
      audit.record({ ...actorOf(ctx), action: "delete", repository, reference: ctx.params[1], detail: {} });
      send(ctx.res, 202, {});
    },
  };
}
