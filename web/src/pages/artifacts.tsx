// The repository page's Artifacts view (one row per manifest, as Harbor shows it) and manifest deletion,
// shared by the artifact list and the image page.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { ApiError, del, get, qs, type Artifact, type ArtifactPage } from "../api";
import { Badge, Card, Confirm, CopyButton, Empty, ErrorBox, Icon, Pagination, Spinner, toast, useLoad } from "../components";
import { ago, apiRepo, bytes, dateTime, platform, repoPath, shortDigest } from "../format";
import { t } from "../i18n";
import { navigate, useLocation, withQuery } from "../router";
import { session } from "../session";

const PAGE_SIZE = 25;

export function ArtifactsCard(props: { name: string; canDelete: boolean; onChanged: () => void; viewSwitch: ComponentChildren }) {
  const { name } = props;
  const { query } = useLocation();
  const untagged = query.get("untagged") === "1";
  const page = Number(query.get("page") ?? 1) || 1;
  const artifacts = useLoad(() => get<ArtifactPage>(`${apiRepo(name)}/-/artifacts${qs({ untagged: untagged ? "true" : null, page, pageSize: PAGE_SIZE })}`), [name, untagged, page]);
  const [deleting, setDeleting] = useState<Artifact | null>(null);
  const host = session()?.registry ?? "";
  const data = artifacts.data;
  const filter = (only: boolean, label: string, n: number | undefined, testId: string) => (
    <button class={`btn btn-small ${untagged === only ? "btn-primary" : ""}`} aria-pressed={untagged === only} data-testid={testId} onClick={() => navigate(withQuery({ untagged: only ? 1 : null, page: null }))}>
      {label}
      {n !== undefined && <span class="count"> ({n.toLocaleString()})</span>}
    </button>
  );
  return (
    <Card flush title={props.viewSwitch}>
      <div class="toolbar">
        {filter(false, t("artifacts.all"), data && !untagged ? data.total : undefined, "filter-all")}
        {filter(true, t("artifacts.untagged"), data?.untaggedTotal, "filter-untagged")}
      </div>
      {/* A repository that is gone shows its error once, in the page's header box. */}
      {artifacts.error?.code !== "NAME_UNKNOWN" && <ErrorBox error={artifacts.error} onRetry={artifacts.reload} />}
      {!data && artifacts.loading && <Spinner />}
      {data && (
        <div class={`table-wrap ${artifacts.loading ? "stale" : ""}`}>
          <table class="table" data-testid="artifacts">
            <thead>
              <tr>
                <th>{t("artifacts.col.artifact")}</th>
                <th>{t("artifacts.col.tags")}</th>
                <th>{t("repo.col.platforms")}</th>
                <th class="num">{t("repo.col.size")}</th>
                <th class="num" title={t("artifacts.referrersHint")}>{t("artifacts.col.referrers")}</th>
                <th>{t("repo.col.pushed")}</th>
                <th>{t("repo.col.pulled")}</th>
                <th class="actions-col">{t("common.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((a) => (
                <tr key={a.digest} data-digest={a.digest}>
                  <td>
                    <a class="mono" href={`${repoPath(name)}/-/manifests/${a.digest}`} title={a.digest}>
                      {shortDigest(a.digest)}
                    </a>{" "}
                    <Badge kind={a.kind === "index" ? "info" : "neutral"}>{t(`repo.kind.${a.kind}`)}</Badge>
                    {a.artifactType && <div class="muted small mono" title={a.artifactType}>{a.artifactType}</div>}
                  </td>
                  <td>
                    {a.tags.length ? (
                      <div class="platforms">
                        {a.tags.map((tag) => (
                          <Badge key={tag} kind={a.immutableTags.includes(tag) ? "warn" : "neutral"} title={a.immutableTags.includes(tag) ? t("repo.immutableHint") : undefined}>
                            <Icon name="tag" /> {tag}
                          </Badge>
                        ))}
                      </div>
                    ) : (
                      <span class="muted">{t("artifacts.noTags")}</span>
                    )}
                  </td>
                  <td>
                    {a.platforms.length ? (
                      <div class="platforms">
                        {a.platforms.map((p) => (
                          <Badge key={p.digest} kind="info">
                            {platform(p)}
                          </Badge>
                        ))}
                      </div>
                    ) : (
                      <span class="muted">—</span>
                    )}
                  </td>
                  <td class="num">{bytes(a.size)}</td>
                  <td class="num">{a.referrers}</td>
                  <td title={dateTime(a.createdAt)}>{ago(a.createdAt)}</td>
                  <td title={a.lastPulledAt ? dateTime(a.lastPulledAt) : ""}>{ago(a.lastPulledAt)}</td>
                  <td class="actions-col">
                    <div class="row-actions">
                      <CopyButton small text={`docker pull ${host}/${name}@${a.digest}`} label={t("common.copy")} title={t("repo.copyDigest")} />
                      {props.canDelete && (
                        <button class="btn btn-small btn-danger-ghost" data-testid={`delete-artifact-${a.digest}`} onClick={() => setDeleting(a)}>
                          {t("artifacts.delete")}
                        </button>
                      )}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {!data.items.length && <Empty />}
        </div>
      )}
      {data && data.total > 0 && <Pagination page={page} pageSize={PAGE_SIZE} total={data.total} onPage={(p) => navigate(withQuery({ page: p }))} />}
      {deleting && (
        <DeleteManifestDialog
          name={name}
          digest={deleting.digest}
          tags={deleting.tags}
          onClose={() => setDeleting(null)}
          onDone={async () => {
            if (!(await leaveIfEmpty(name))) {
              artifacts.reload();
              props.onChanged();
            }
          }}
        />
      )}
    </Card>
  );
}

/** Asks before deleting a manifest, naming the tags that go with it; a refusal shows in the dialog in the server's words. */
export function DeleteManifestDialog(props: { name: string; digest: string; tags: string[]; onClose: () => void; onDone: () => void | Promise<void> }) {
  const vars = { digest: shortDigest(props.digest), repo: props.name, tags: props.tags.join(", ") };
  return (
    <Confirm
      title={t("repo.deleteManifest")}
      message={<span data-testid="confirm-delete-message">{props.tags.length ? t("artifacts.confirmDelete", vars) : t("artifacts.confirmDeleteUntagged", vars)}</span>}
      confirmLabel={t("common.delete")}
      onClose={props.onClose}
      onConfirm={async () => {
        await del(`${apiRepo(props.name)}/-/manifests/${props.digest}`);
        toast(`${t("repo.deleted")}: ${shortDigest(props.digest)}`);
        await props.onDone();
      }}
    />
  );
}

/**
 * After a delete: when the repository held nothing else it no longer exists, so rather than reload pages
 * that can only answer 404, say so once and go to its project's repositories. True when it left.
 */
export async function leaveIfEmpty(name: string): Promise<boolean> {
  try {
    await get(apiRepo(name));
    return false;
  } catch (err) {
    if (!(err instanceof ApiError && err.code === "NAME_UNKNOWN")) return false;
    toast(t("artifacts.repositoryEmpty", { repo: name }));
    navigate(`/repositories?project=${encodeURIComponent(name.split("/")[0])}`);
    return true;
  }
}
