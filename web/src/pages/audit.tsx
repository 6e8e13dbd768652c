import { useEffect, useState } from "preact/hooks";
import { ApiError, get, qs, type AuditEvent } from "../api";
import { Badge, Card, Empty, ErrorBox, Field, PageHeader, Spinner } from "../components";
import { dateTime, shortDigest } from "../format";
import { t } from "../i18n";

const ACTIONS = ["push", "pull", "delete", "login", "logout", "token", "admin"];
const PAGE = 50;

interface Filters {
  actor: string;
  action: string;
  repository: string;
  since: string;
  until: string;
}
const EMPTY: Filters = { actor: "", action: "", repository: "", since: "", until: "" };

export function AuditPage() {
  const [form, setForm] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [events, setEvents] = useState<AuditEvent[] | null>(null);
  const [more, setMore] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(false);
  const load = async (before?: string) => {
    setLoading(true);
    try {
      const iso = (v: string) => (v ? new Date(v).toISOString() : undefined);
      const page = await get<AuditEvent[]>(
        `/api/v1/audit${qs({ actor: filters.actor, action: filters.action, repository: filters.repository, since: iso(filters.since), until: iso(filters.until), before, limit: PAGE })}`,
      );
      setEvents((prev) => (before && prev ? [...prev, ...page] : page));
      setMore(page.length === PAGE);
      setError(null);
    } catch (err) {
      setError(err as ApiError);
    }
    setLoading(false);
  };
  useEffect(() => void load(), [filters]);
  const input = (key: keyof Filters, type: "text" | "datetime-local" = "text") => (
    <input type={type as "text"} value={form[key]} onInput={(e) => setForm({ ...form, [key]: (e.target as HTMLInputElement).value })} />
  );
  return (
    <>
      <PageHeader title={t("audit.title")} />
      <Card>
        <form
          class="filters"
          onSubmit={(e) => {
            e.preventDefault();
            setFilters({ ...form });
          }}
        >
          <Field label={t("audit.actor")}>{input("actor")}</Field>
          <Field label={t("audit.action")}>
            <select value={form.action} onChange={(e) => setForm({ ...form, action: (e.target as HTMLSelectElement).value })}>
              <option value="">{t("audit.any")}</option>
              {ACTIONS.map((a) => (
                <option key={a} value={a}>{a}</option>
              ))}
            </select>
          </Field>
          <Field label={t("audit.repository")}>{input("repository")}</Field>
          <Field label={t("audit.since")}>{input("since", "datetime-local")}</Field>
          <Field label={t("audit.until")}>{input("until", "datetime-local")}</Field>
          <div class="filter-buttons">
            <button class="btn btn-primary" type="submit">{t("audit.apply")}</button>
            <button
              class="btn"
              type="button"
              onClick={() => {
                setForm(EMPTY);
                setFilters(EMPTY);
              }}
            >
              {t("audit.reset")}
            </button>
          </div>
        </form>
      </Card>
      <ErrorBox error={error} />
      {!events && loading && <Spinner />}
      {events && (
        <Card flush>
          <table class="table" data-testid="audit">
            <thead>
              <tr>
                <th>{t("audit.time")}</th>
                <th>{t("audit.actor")}</th>
                <th>{t("audit.action")}</th>
                <th>{t("audit.repository")}</th>
                <th>{t("audit.reference")}</th>
                <th>{t("audit.result")}</th>
                <th>{t("audit.client")}</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={e.id}>
                  <td class="nowrap">{dateTime(e.at)}</td>
                  <td class="strong">{e.actor}</td>
                  <td>
                    <Badge kind={e.action === "delete" ? "danger" : e.action === "push" ? "info" : "neutral"}>{e.action}</Badge>
                  </td>
                  <td>{e.repository ? <a href={`/repositories/${e.repository}`}>{e.repository}</a> : <span class="muted">—</span>}</td>
                  <td>
                    <code>{e.reference ? (e.reference.includes(":") ? shortDigest(e.reference) : e.reference) : ""}</code>
                  </td>
                  <td>{e.success ? <Badge kind="ok">{t("audit.ok")}</Badge> : <Badge kind="danger">{t("audit.failed")}</Badge>}</td>
                  <td class="muted">{e.clientIp ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {!events.length && <Empty />}
          {more && (
            <div class="load-more">
              <button class="btn" disabled={loading} onClick={() => load(events[events.length - 1].id)}>
                {t("common.loadMore")}
              </button>
            </div>
          )}
        </Card>
      )}
    </>
  );
}
