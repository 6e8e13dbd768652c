import type { RequestContext } from "../../http/context";
import { hasBody, send } from "../../http/respond";
import { OciError } from "../../http/errors";
import { parseRepositoryName, type RepositoryName } from "../../kernel/names";
import { parseContentRange } from "../request-parsers";
import { parseDigest, type Digest } from "../../kernel/digest";
import type { BlobServiceApi } from "../../registry/blob-service";
import { rangeHeaders } from "../../http/errors";
import type { UploadService } from "../../registry/upload-service";

export function uploadHandlers(uploads: UploadService, blobs: BlobServiceApi) {
  const created = (ctx: RequestContext, repository: RepositoryName, digest: Digest) =>
    send(ctx.res, 201, { Location: `/v2/${repository}/blobs/${digest}`, "Docker-Content-Digest": digest });

  return {
    /** POST /v2/<name>/blobs/uploads/: a monolithic upload, a cross-repository mount, or a new session. */
    async start(ctx: RequestContext): Promise<void> {
      const repository = parseRepositoryName(ctx.params[0]);
      const mount = ctx.query.get("mount");
      if (mount !== null) {
        const digest = parseDigest(mount);
        const from = ctx.query.get("from");
        // A mount that cannot happen (no or unreadable source) falls back to an upload session, per the spec.
        // Only from a repository the client may pull from: a mount must not leak blobs across projects.
        const source = from === null ? null : parseRepositoryName(from);
        const mounted = source !== null && ctx.grant?.can("repository", source, "pull") && (await blobs.mount(source, repository, digest));
        if (mounted) return created(ctx, repository, digest);
      } else {
        const digestParam = ctx.query.get("digest");
        if (digestParam !== null) {
          const digest = parseDigest(digestParam);
          await uploads.uploadWhole(repository, digest, ctx.req);
          return created(ctx, repository, digest);
        }
      }
      const upload = await uploads.start(repository);
      send(ctx.res, 202, rangeHeaders(upload.id, repository, upload.offset));
    },

    async status(ctx: RequestContext): Promise<void> {
      const repository = parseRepositoryName(ctx.params[0]);
      const upload = await uploads.status(repository, uploadId(ctx.params[1]));
      send(ctx.res, 204, rangeHeaders(upload.id, repository, upload.offset));
    },

    /** PATCH: one chunk (Content-Range) or a stream of unknown length (no Content-Range). */
    async append(ctx: RequestContext): Promise<void> {
      const repository = parseRepositoryName(ctx.params[0]);
      const range = parseContentRange(ctx.req.headers["content-range"]);
      const upload = await uploads.append(repository, uploadId(ctx.params[1]), ctx.req, range);
      send(ctx.res, 202, rangeHeaders(upload.id, repository, upload.offset));
    },

    async finish(ctx: RequestContext): Promise<void> {
      const repository = parseRepositoryName(ctx.params[0]);
      const digestParam = ctx.query.get("digest");
      if (digestParam === null) throw new OciError("DIGEST_INVALID", "the digest query parameter is required to complete an upload");
      const digest = parseDigest(digestParam);
      const range = parseContentRange(ctx.req.headers["content-range"]);
      await uploads.finish(repository, uploadId(ctx.params[1]), digest, hasBody(ctx.req) ? ctx.req : null, range);
      created(ctx, repository, digest);
    },

    async cancel(ctx: RequestContext): Promise<void> {
      const repository = parseRepositoryName(ctx.params[0]);
      await uploads.cancel(repository, uploadId(ctx.params[1]));
      send(ctx.res, 204, {});
    },
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function uploadId(value: string): string {
  if (!UUID.test(value)) throw new OciError("BLOB_UPLOAD_UNKNOWN", `no upload ${value.slice(0, 60)}`);
  return value;
}
