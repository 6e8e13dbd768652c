import type { RequestContext } from "../../http/context";
import { sendJson } from "../../http/respond";
import { parseRepositoryName } from "../../kernel/names";
import { parsePage } from "../request-parsers";
import { parseDigest } from "../../kernel/digest";
import { MediaType } from "../../kernel/media-types";
import type { ManifestServiceApi } from "../../registry/manifest-service";
import type { PageRequest } from "../../metadata/store";

const MAX_PAGE = 10_000;
const DEFAULT_CATALOG_PAGE = 1_000;

/** Tag lists, the catalog and the referrers index: read-only listings out of the metadata store. */
export function listingHandlers(manifests: ManifestServiceApi) {
  return {
    async tags(ctx: RequestContext): Promise<void> {
      const repository = parseRepositoryName(ctx.params[0]);
      const page = parsePage(ctx.query, MAX_PAGE, MAX_PAGE);
      const tags = await manifests.tags(repository, { ...page, limit: page.limit + 1 });
      sendJson(ctx.res, 200, nextLink(`/v2/${repository}/tags/list`, page, tags), { name: repository, tags: tags.slice(0, page.limit) });
    },

    async catalog(ctx: RequestContext): Promise<void> {
      const page = parsePage(ctx.query, DEFAULT_CATALOG_PAGE, MAX_PAGE);
      const names = await manifests.catalog({ ...page, limit: page.limit + 1 });
      sendJson(ctx.res, 200, nextLink("/v2/_catalog", page, names), { repositories: names.slice(0, page.limit) });
    },

    async referrers(ctx: RequestContext): Promise<void> {
      const repository = parseRepositoryName(ctx.params[0]);
      const subject = parseDigest(ctx.params[1]);
      const artifactType = ctx.query.get("artifactType");
      const referrers = await manifests.referrers(repository, subject, artifactType);
      const index = {
        schemaVersion: 2,
        mediaType: MediaType.OCI_INDEX,
        manifests: referrers.map((r) => ({
          mediaType: r.mediaType,
          digest: r.digest,
          size: r.size,
          ...(r.artifactType ? { artifactType: r.artifactType } : {}),
          ...(r.annotations ? { annotations: r.annotations } : {}),
        })),
      };
      sendJson(ctx.res, 200, { "Content-Type": MediaType.OCI_INDEX, ...(artifactType !== null ? { "OCI-Filters-Applied": "artifactType" } : {}) }, index);
    },
  };
}

/** `items` was fetched with one extra row: its presence says another page follows. */
function nextLink(path: string, page: PageRequest, items: string[]): Record<string, string> {
  if (page.limit === 0 || items.length <= page.limit) return {};
  const last = items[page.limit - 1];
  return { Link: `<${path}?n=${page.limit}&last=${encodeURIComponent(last)}>; rel="next"` };
}
