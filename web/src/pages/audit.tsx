import { useEffect, useState } from "preact/hooks";
import { ApiError, get, qs, type AuditEvent } from "../api";
import { Badge, Card, Empty, ErrorBox, Field, PageHeader, Spinner } from "../components";
import { dateTime, shortDigest } from "../format";
import { dictionaryKeys, t, type Key } from "../i18n";

/** The filter's choices: the everyday actions, the "admin" category, then refusals. */
const ACTIONS = ["push", "pull", "delete", "login", "logout", "token", "admin", "access.denied", "quota.exceeded"];
const OUTCOMES = ["success", "refused", "failed"] as const;
const PAGE = 50;

interface Filters {
  project: string;
  repository: string;
  actor: string;
  action: string;
  outcome: string;
  from: string;
  to: string;
}
const EMPTY: Filters = { project: "", repository: "", actor: "", action: "", outcome: "", from: "", to: "" };

/** An action's name in the user's language; an action the UI does not know yet is shown as the server names it. */
function actionLabel(action: string): string {
  const key = `audit.act.${action}`;
  return dictionaryKeys.en.includes(key) ? t(key as Key) : action;
}

const ACTION_BADGE: Record<string, "danger" | "info" | "warn"> = { delete: "danger", push: "info", "access.denied": "warn", "quota.exceeded": "warn" };
const OUTCOME_BADGE = { success: "ok", refused: "warn", failed: "danger" } as const;

/**
 * The audit log: every event for administrators (/audit), or one project's for its admins
 * (/projects/{p}/audit; the server holds them to that project). Export CSV downloads every event the
 * filters match, not only the page shown.
 */
export function AuditPage(props: { project?: string }) {
  const base = props.project ? `/api/v1/projects/${encodeURIComponent(props.project)}/audit` : "/api/v1/audit";
  const [form, setForm] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [events, setEvents] = useState<AuditEvent[] | null>(null);
  const [more, setMore] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(false);
  const iso = (v: string) => (v ? new Date(v).toISOString() : undefined);
  const query = (f: Filters) => ({ project: props.project ? undefined : f.project, repository: f.repository, actor: f.actor, action: f.action, outcome: f.outcome, from: iso(f.from), to: iso(f.to) });
  const load = async (before?: string) => {
    setLoading(true);
    try {
      const page = await get<AuditEvent[]>(`${base}${qs({ ...query(filters), before, limit: PAGE })}`);
      setEvents((prev) => (before && prev ? [...prev, ...page] : page));
      setMore(page.length === PAGE);
      setError(null);
    } catch (err) {
      setError(err as ApiError);
    }
    setLoading(false);
  };
  useEffect(() => void load(), [filters, base]);
  const input = (key: keyof Filters, type: "text" | "datetime-local" = "text") => (
    <input type={type as "text"} name={key} value={form[key]} onInput={(e) => setForm({ ...form, [key]: (e.target as HTMLInputElement).value })} />
  );
  const select = (key: keyof Filters, options: readonly string[], label: (v: string) => string) => (
    <select name={key} value={form[key]} onChange={(e) => setForm({ ...form, [key]: (e.target as HTMLSelectElement).value })}>
      <option value="">{t("audit.any")}</option>
      {options.map((o) => (
        <option key={o} value={o}>
          {label(o)}
        </option>
      ))}
    </select>
  );
  return (
    <>
      <PageHeader
        crumbs={props.project ? <><a href="/projects">{t("projects.title")}</a><span>/</span><a href={`/projects/${props.project}`}>{props.project}</a></> : undefined}
        title={props.project ? t("audit.projectTitle", { project: props.project }) : t("audit.title")}
        actions={
          <a class="btn" data-testid="audit-export" href={`${base}${qs({ ...query(filters), format: "csv" })}`} download>
            {t("audit.exportCsv")}
          </a>
        }
      />
      <Card>
        <form
          class="filters"
          onSubmit={(e) => {
            e.preventDefault();
            setFilters({ ...form });
          }}
        >
          {!props.project && <Field label={t("audit.project")}>{input("project")}</Field>}
          <Field label={t("audit.repository")}>{input("repository")}</Field>
          <Field label={t("audit.actor")}>{input("actor")}</Field>
          <Field label={t("audit.action")}>{select("action", ACTIONS, actionLabel)}</Field>
          <Field label={t("audit.outcome")}>{select("outcome", OUTCOMES, (o) => t(`audit.outcome.${o}` as Key))}</Field>
          <Field label={t("audit.from")}>{input("from", "datetime-local")}</Field>
          <Field label={t("audit.to")}>{input("to", "datetime-local")}</Field>
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
                <th>{t("audit.project")}</th>
                <th>{t("audit.repository")}</th>
                <th>{t("audit.reference")}</th>
                <th>{t("audit.outcome")}</th>
                <th>{t("audit.client")}</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={e.id} data-outcome={e.outcome}>
                  <td class="nowrap">{dateTime(e.at)}</td>
                  <td class="strong">{e.actor}</td>
                  <td>
                    <Badge kind={ACTION_BADGE[e.action] ?? "neutral"} title={e.action}>{actionLabel(e.action)}</Badge>
                  </td>
                  <td>{e.project ?? <span class="muted">—</span>}</td>
                  <td>{e.repository ? <a href={`/repositories/${e.repository}`}>{e.repository}</a> : <span class="muted">—</span>}</td>
                  <td>
                    <code>{e.reference ? (e.reference.includes(":") ? shortDigest(e.reference) : e.reference) : ""}</code>
                  </td>
                  <td>
                    <Badge kind={OUTCOME_BADGE[e.outcome as keyof typeof OUTCOME_BADGE] ?? "neutral"} title={typeof e.detail?.message === "string" ? e.detail.message : undefined}>
                      {OUTCOMES.includes(e.outcome as (typeof OUTCOMES)[number]) ? t(`audit.outcome.${e.outcome}` as Key) : e.outcome}
                    </Badge>
                  </td>
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
