import { useEffect, useState } from "preact/hooks";
import { ApiError, del, get, post, qs, type Paged, type RepositoryDetail, type Tag } from "../api";
import { Badge, Card, Command, Confirm, CopyButton, Empty, ErrorBox, Field, Icon, Menu, MenuItem, Modal, PageHeader, Pagination, SortHeader, Spinner, Stat, toast, useLoad } from "../components";
import { ago, apiRepo, bytes, count, dateTime, platform, repoPath, shortDigest } from "../format";
import { t } from "../i18n";
import { navigate, useLocation, withQuery } from "../router";
import { session } from "../session";
import { RulesSummary } from "./rules";
import { ArtifactsCard, DeleteManifestDialog, leaveIfEmpty } from "./artifacts";

export function RepositoryPage(props: { name: string }) {
  const name = props.name;
  const { query } = useLocation();
  const q = query.get("q") ?? "";
  const sort = query.get("sort") ?? "pushed";
  const order = query.get("order") ?? (sort === "name" ? "asc" : "desc");
  const page = Number(query.get("page") ?? 1) || 1;
  const view = query.get("view") === "tags" ? "tags" : "artifacts";
  const [text, setText] = useState(q);
  const [dialog, setDialog] = useState<null | { kind: "deleteTag" | "deleteManifest" | "retag"; tag: Tag }>(null);
  useEffect(() => {
    if (text === q) return;
    const timer = setTimeout(() => navigate(withQuery({ q: text.trim(), page: null }), true), 250);
    return () => clearTimeout(timer);
  }, [text]);
  const repo = useLoad(() => get<RepositoryDetail>(apiRepo(name)), [name]);
  const tags = useLoad(() => get<Paged<Tag>>(`${apiRepo(name)}/-/tags${qs({ q, sort, order, page, pageSize: 25 })}`), [name, q, sort, order, page]);
  const host = session()?.registry ?? "";
  const can = (action: string) => !!repo.data?.actions.includes(action);
  const onSort = (s: string, o: string) => navigate(withQuery({ sort: s, order: o, page: null }));
  const refresh = () => {
    repo.reload();
    tags.reload();
  };
  const afterDelete = async () => {
    if (!(await leaveIfEmpty(name))) refresh();
  };
  const viewSwitch = (
    <span class="view-switch">
      {(["artifacts", "tags"] as const).map((v) => (
        <a
          key={v}
          aria-current={view === v ? "page" : undefined}
          class={view === v ? "active" : ""}
          data-testid={`view-${v}`}
          href={withQuery({ view: v === "tags" ? "tags" : null, page: null, untagged: null, q: null, sort: null, order: null })}
        >
          {t(v === "tags" ? "artifacts.tagsView" : "artifacts.view")}
        </a>
      ))}
    </span>
  );
  const project = name.split("/")[0];

  return (
    <>
      <PageHeader
        crumbs={
          <>
            <a href="/repositories">{t("nav.repositories")}</a>
            <span>/</span>
            <a href={`/repositories?project=${project}`}>{project}</a>
          </>
        }
        title={<span class="mono-title">{name}</span>}
        subtitle={
          repo.data && (
            <>
              <Badge kind={repo.data.public ? "info" : "neutral"}>{repo.data.public ? t("common.public") : t("common.private")}</Badge>
            </>
          )
        }
        actions={
          can("push") && (
            <a class="btn" href={`/import?repository=${encodeURIComponent(name)}`}>
              <Icon name="import" /> {t("repo.import")}
            </a>
          )
        }
      />
      <ErrorBox error={repo.error} onRetry={repo.reload} />
      {repo.data && (
        <div class="stats">
          <Stat label={t("repo.stats.tags")} value={count(repo.data.tagCount)} />
          <Stat label={t("repo.stats.size")} value={bytes(repo.data.sizeBytes)} />
          <Stat label={t("repo.stats.pulls")} value={count(repo.data.pullCount)} hint={repo.data.lastPulledAt ? ago(repo.data.lastPulledAt) : undefined} />
          <Stat label={t("repo.stats.pushed")} value={ago(repo.data.pushedAt)} hint={dateTime(repo.data.pushedAt)} />
        </div>
      )}
      <Card title={t("repo.pull")}>
        <Command text={`docker pull ${host}/${name}:${tags.data?.items[0]?.name ?? "latest"}`} />
      </Card>
      {view === "artifacts" && repo.data && <ArtifactsCard name={name} canDelete={can("delete")} onChanged={refresh} viewSwitch={viewSwitch} />}
      {view === "tags" && (
      <Card flush title={viewSwitch}>
        <div class="toolbar">
          <input class="search" type="search" placeholder={t("repo.searchTags")} aria-label={t("repo.searchTags")} value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
        </div>
        {/* A repository that is gone shows its error once, in the page's header box. */}
        {tags.error?.code !== "NAME_UNKNOWN" && <ErrorBox error={tags.error} onRetry={tags.reload} />}
        {!tags.data && tags.loading && <Spinner />}
        {tags.data && (
          <div class={`table-wrap ${tags.loading ? "stale" : ""}`}>
            <table class="table" data-testid="tags">
              <thead>
                <tr>
                  <SortHeader label="repo.col.tag" sort="name" current={sort} order={order} onSort={onSort} />
                  <th>{t("repo.col.digest")}</th>
                  <th>{t("repo.col.platforms")}</th>
                  <th class="num">{t("repo.col.size")}</th>
                  <SortHeader label="repo.col.pushed" sort="pushed" current={sort} order={order} onSort={onSort} />
                  <th>{t("repo.col.pulled")}</th>
                  <th class="actions-col">{t("common.actions")}</th>
                </tr>
              </thead>
              <tbody>
                {tags.data.items.map((tag) => (
                  <tr key={tag.name} data-tag={tag.name}>
                    <td>
                      <a class="tag-name" href={`${repoPath(name)}/-/manifests/${tag.digest}`}>
                        <Icon name="tag" />
                        {tag.name}
                      </a>
                      {tag.immutable && (
                        <Badge kind="warn" title={t("repo.immutableHint")}>
                          <span data-testid={`immutable-${tag.name}`}>{t("repo.immutable")}</span>
                        </Badge>
                      )}
                    </td>
                    <td>
                      <code class="digest" title={tag.digest}>
                        {shortDigest(tag.digest)}
                      </code>
                    </td>
                    <td>
                      {tag.kind === "index" ? (
                        <div class="platforms">
                          {tag.platforms.map((p) => (
                            <Badge key={p.digest} kind="info">
                              {platform(p)}
                            </Badge>
                          ))}
                        </div>
                      ) : tag.kind === "other" ? (
                        <Badge>{t("repo.kind.other")}</Badge>
                      ) : (
                        <span class="muted">—</span>
                      )}
                    </td>
                    <td class="num">{bytes(tag.size)}</td>
                    <td title={dateTime(tag.pushedAt)}>{ago(tag.pushedAt)}</td>
                    <td title={tag.lastPulledAt ? dateTime(tag.lastPulledAt) : ""}>{ago(tag.lastPulledAt)}</td>
                    <td class="actions-col">
                      <div class="row-actions">
                        <CopyButton small text={`docker pull ${host}/${name}:${tag.name}`} label={t("common.copy")} title={t("repo.copyTag")} />
                        <Menu label={t("common.actions")} testId={`menu-${tag.name}`}>
                          <MenuItem onClick={() => copy(`docker pull ${host}/${name}@${tag.digest}`)}>{t("repo.copyDigest")}</MenuItem>
                          <MenuItem href={`${apiRepo(name)}/-/export/${tag.name}`} download>
                            {t("repo.download")}
                          </MenuItem>
                          <MenuItem onClick={() => setDialog({ kind: "retag", tag })}>{t("repo.retag")}</MenuItem>
                          {can("delete") && (
                            <>
                              <div class="menu-sep" />
                              <MenuItem danger testId={`delete-tag-${tag.name}`} onClick={() => setDialog({ kind: "deleteTag", tag })}>
                                {t("repo.deleteTag")}
                              </MenuItem>
                              <MenuItem danger testId={`delete-manifest-${tag.name}`} onClick={() => setDialog({ kind: "deleteManifest", tag })}>
                                {t("repo.deleteManifest")}
                              </MenuItem>
                            </>
                          )}
                        </Menu>
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {!tags.data.items.length && <Empty />}
          </div>
        )}
        {tags.data && tags.data.total > 0 && <Pagination page={page} pageSize={25} total={tags.data.total} onPage={(p) => navigate(withQuery({ page: p }))} />}
      </Card>
      )}
      <RulesSummary repository={name} />
      {dialog?.kind === "deleteTag" && (
        <Confirm
          title={t("repo.deleteTag")}
          message={t("repo.confirmDeleteTag", { tag: dialog.tag.name, repo: name })}
          confirmLabel={t("common.delete")}
          onClose={() => setDialog(null)}
          onConfirm={async () => {
            await del(`${apiRepo(name)}/-/tags/${dialog.tag.name}`);
            toast(`${t("repo.deleted")}: ${name}:${dialog.tag.name}`);
            await afterDelete();
          }}
        />
      )}
      {dialog?.kind === "deleteManifest" && (
        <DeleteManifest name={name} tag={dialog.tag} onClose={() => setDialog(null)} onDone={afterDelete} />
      )}
      {dialog?.kind === "retag" && <Retag name={name} reference={dialog.tag.name} onClose={() => setDialog(null)} onDone={refresh} />}
    </>
  );
}

function copy(text: string): void {
  navigator.clipboard?.writeText(text).then(
    () => toast(t("common.copied")),
    () => undefined,
  );
}

function DeleteManifest(props: { name: string; tag: Tag; onClose: () => void; onDone: () => Promise<void> }) {
  const others = useLoad(() => get<{ tags: string[] }>(`${apiRepo(props.name)}/-/manifests/${props.tag.digest}`), [props.tag.digest]);
  return <DeleteManifestDialog name={props.name} digest={props.tag.digest} tags={others.data?.tags ?? [props.tag.name]} onClose={props.onClose} onDone={props.onDone} />;
}

export function Retag(props: { name: string; reference: string; onClose: () => void; onDone: () => void }) {
  const [repository, setRepository] = useState(props.name);
  const [tag, setTag] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const result = await post<{ repository: string; tag: string }>(`${apiRepo(props.name)}/-/copy`, { reference: props.reference, repository, tag });
      toast(t("retag.done", { repo: result.repository, tag: result.tag }));
      props.onDone();
      props.onClose();
    } catch (err) {
      setError(err as ApiError);
      setBusy(false);
    }
  };
  return (
    <Modal
      title={t("retag.title", { ref: `${props.name}:${props.reference}` })}
      onClose={props.onClose}
      footer={
        <>
          <button class="btn" onClick={props.onClose}>
            {t("common.cancel")}
          </button>
          <button class="btn btn-primary" form="retag-form" type="submit" disabled={busy || !tag}>
            {t("common.save")}
          </button>
        </>
      }
    >
      <form id="retag-form" onSubmit={submit}>
        <p class="muted">{t("retag.help")}</p>
        <Field label={t("retag.repository")}>
          <input value={repository} onInput={(e) => setRepository((e.target as HTMLInputElement).value)} required />
        </Field>
        <Field label={t("retag.tag")}>
          <input value={tag} name="tag" onInput={(e) => setTag((e.target as HTMLInputElement).value)} required pattern="[A-Za-z0-9_][A-Za-z0-9._\-]{0,127}" />
        </Field>
        <ErrorBox error={error} />
      </form>
    </Modal>
  );
}
