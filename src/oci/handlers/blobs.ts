import { sendReadable } from "../../storage/driver";
import type { RequestContext } from "../../http/context";
import { send } from "../../http/respond";
import { parseRepositoryName } from "../../kernel/names";
import { parseByteRange } from "../request-parsers";
import { parseDigest } from "../../kernel/digest";
import type { BlobServiceApi } from "../../registry/blob-service";
import type { EventSink } from "../../events/event-bus";
import { actorOf } from "./audit-context";

export function blobHandlers(blobs: BlobServiceApi, audit: EventSink) {
  return {
    /** HEAD and GET /v2/<name>/blobs/<digest>, with single-range requests answered 206. */
    async get(ctx: RequestContext): Promise<void> {
      const repository = parseRepositoryName(ctx.params[0]);
      const digest = parseDigest(ctx.params[1]);
      const blob = await blobs.stat(repository, digest);
      const headers = {
        "Docker-Content-Digest": digest,
        ETag: `"${digest}"`,
        "Accept-Ranges": "bytes",
        "Cache-Control": "max-age=31536000",
        "Content-Type": "application/octet-stream",
      };
      if (ctx.req.headers["if-none-match"] === headers.ETag) return send(ctx.res, 304, headers);
      const isHead = ctx.req.method === "HEAD";
      if (!isHead) {
        const url = await blobs.redirectUrl(blob);
        if (url) return send(ctx.res, 307, { ...headers, Location: url });
      }
      const range = parseByteRange(ctx.req.headers.range, blob.size);
      const status = range ? 206 : 200;
      const length = range ? range.end! - range.start + 1 : blob.size;
      const rangeHeaders: Record<string, string> = range ? { "Content-Range": `bytes ${range.start}-${range.end}/${blob.size}` } : {};
      if (isHead || length === 0) return send(ctx.res, status, { ...headers, ...rangeHeaders, "Content-Length": length });
      const stream = await blobs.open(repository, blob, range ?? undefined);
      ctx.res.writeHead(status, { ...headers, ...rangeHeaders, "Content-Length": length });
      await sendReadable(stream, ctx.res);
    },

    async delete(ctx: RequestContext): Promise<void> {
      const repository = parseRepositoryName(ctx.params[0]);
      const digest = parseDigest(ctx.params[1]);
      await blobs.delete(repository, digest);
      audit.record({ ...actorOf(ctx), action: "delete", repository, reference: digest, detail: { target: "blob" } });
      send(ctx.res, 202, { "Docker-Content-Digest": digest });
    },
  };
}
