import { useEffect, useState } from "preact/hooks";
import { get, qs, type Paged, type Repository } from "../api";
import { Badge, Card, Empty, ErrorBox, PageHeader, Pagination, SortHeader, Spinner, useLoad } from "../components";
import { ago, bytes, count, repoPath } from "../format";
import { t } from "../i18n";
import { navigate, useLocation, withQuery } from "../router";
import { session } from "../session";

export function RepositoriesPage() {
  const { query } = useLocation();
  const q = query.get("q") ?? "";
  const sort = query.get("sort") ?? "pushed";
  const order = query.get("order") ?? (sort === "name" ? "asc" : "desc");
  const page = Number(query.get("page") ?? 1) || 1;
  const project = query.get("project") ?? "";
  const [text, setText] = useState(q);
  useEffect(() => setText(q), [q]);
  // Search as you type, a moment after the last key.
  useEffect(() => {
    if (text === q) return;
    const timer = setTimeout(() => navigate(withQuery({ q: text.trim(), page: null }), true), 250);
    return () => clearTimeout(timer);
  }, [text]);
  const list = useLoad(
    () => get<Paged<Repository>>(`/api/v1/repositories${qs({ q, sort, order, page, pageSize: 25, project })}`),
    [q, sort, order, page, project],
  );
  const onSort = (s: string, o: string) => navigate(withQuery({ sort: s, order: o, page: null }));
  return (
    <>
      <PageHeader title={t("repos.title")} />
      <Card flush>
        <div class="toolbar">
          <input
            class="search"
            type="search"
            placeholder={t("repos.search")}
            value={text}
            aria-label={t("repos.search")}
            onInput={(e) => setText((e.target as HTMLInputElement).value)}
          />
          {project && (
            <span class="chip">
              {project}
              <button class="icon-btn" aria-label="×" onClick={() => navigate(withQuery({ project: null, page: null }))}>
                ×
              </button>
            </span>
          )}
          <div class="toolbar-spacer" />
          <label class="inline-field">
            <span>{t("repos.sort")}</span>
            <select value={sort} onChange={(e) => onSort((e.target as HTMLSelectElement).value, (e.target as HTMLSelectElement).value === "name" ? "asc" : "desc")}>
              {(["name", "pushed", "size", "pulls"] as const).map((s) => (
                <option key={s} value={s}>
                  {t(`repos.sort.${s}`)}
                </option>
              ))}
            </select>
          </label>
        </div>
        <ErrorBox error={list.error} onRetry={list.reload} />
        {!list.data && list.loading && <Spinner />}
        {list.data && (
          <div class={`table-wrap ${list.loading ? "stale" : ""}`}>
            <table class="table" data-testid="repositories">
              <thead>
                <tr>
                  <SortHeader label="repos.col.name" sort="name" current={sort} order={order} onSort={onSort} />
                  <th class="num">{t("repos.col.tags")}</th>
                  <SortHeader label="repos.col.size" sort="size" current={sort} order={order} onSort={onSort} align="right" />
                  <SortHeader label="repos.col.pushed" sort="pushed" current={sort} order={order} onSort={onSort} />
                  <SortHeader label="repos.col.pulls" sort="pulls" current={sort} order={order} onSort={onSort} align="right" />
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((r) => (
                  <tr key={r.name} class="clickable" onClick={() => navigate(repoPath(r.name))}>
                    <td>
                      <a href={repoPath(r.name)} class="repo-name" onClick={(e) => e.stopPropagation()}>
                        <span class="repo-project">{r.project}/</span>
                        {r.name.slice(r.project.length + 1) || r.name}
                      </a>
                      {r.public && <Badge kind="info">{t("common.public")}</Badge>}
                    </td>
                    <td class="num">{count(r.tagCount)}</td>
                    <td class="num">{bytes(r.sizeBytes)}</td>
                    <td title={r.pushedAt}>{ago(r.pushedAt)}</td>
                    <td class="num">{count(r.pullCount)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {!list.data.items.length && <Empty>{t("repos.empty", { host: session()?.registry ?? "" })}</Empty>}
          </div>
        )}
        {list.data && list.data.total > 0 && <Pagination page={page} pageSize={25} total={list.data.total} onPage={(p) => navigate(withQuery({ page: p }))} />}
      </Card>
    </>
  );
}
