import { useState } from "preact/hooks";
import { ApiError, del, get, post, put, type ImmutableSpec, type ProjectRules, type RetentionPreview, type RetentionSpec, type RuleSpec, type StoredRule } from "../api";
import { Badge, Card, Confirm, Empty, ErrorBox, Field, Modal, PageHeader, Spinner, toast, useLoad } from "../components";
import { ago, dateTime, repoPath } from "../format";
import { t } from "../i18n";

/** One line per clause: "keep the newest 5 tags · delete tags pushed more than 30 days ago · always keep latest". */
export function describeRule(rule: RuleSpec): string {
  if (rule.kind === "immutable") return t("rules.immutableTags", { patterns: rule.spec.tags.join(", ") });
  const { keepLatest, deleteOlderThanDays, keepTags } = rule.spec;
  return [
    keepLatest !== undefined && t("rules.keepLatest", { n: keepLatest }),
    deleteOlderThanDays !== undefined && t("rules.olderThan", { days: deleteOlderThanDays }),
    keepTags.length > 0 && t("rules.keepTags", { patterns: keepTags.join(", ") }),
  ]
    .filter(Boolean)
    .join(" · ");
}

type Row = { key: string; rule: RuleSpec; stored: StoredRule | null };

/** The configured rules (read-only) and the stored ones of a kind, in the order they were made. */
function rowsOf(rules: ProjectRules, kind: RuleSpec["kind"]): Row[] {
  const configured: RuleSpec[] =
    kind === "retention"
      ? rules.configured.retention
        ? [{ kind, spec: rules.configured.retention }]
        : []
      : rules.configured.immutableTags.map((spec) => ({ kind: "immutable", spec }));
  return [
    ...configured.map((rule, i) => ({ key: `config-${i}`, rule, stored: null })),
    ...rules.stored.filter((r) => r.kind === kind).map((r) => ({ key: String(r.id), rule: r as RuleSpec, stored: r })),
  ];
}

/** The rules of a project as a table per kind; `onEdit`/`onDelete` (for those who may) add the row actions. */
export function RulesTables(props: { rules: ProjectRules; onEdit?: (rule: StoredRule) => void; onDelete?: (rule: StoredRule) => void; onAdd?: (kind: RuleSpec["kind"]) => void }) {
  return (
    <>
      {(["retention", "immutable"] as const).map((kind) => {
        const rows = rowsOf(props.rules, kind);
        return (
          <Card
            key={kind}
            flush
            title={t(kind === "retention" ? "rules.retention" : "rules.immutable")}
            actions={
              props.onAdd && (
                <button class="btn btn-small" data-testid={`add-${kind}`} onClick={() => props.onAdd!(kind)}>
                  {t(kind === "retention" ? "rules.addRetention" : "rules.addImmutable")}
                </button>
              )
            }
          >
            <table class="table" data-testid={`rules-${kind}`}>
              <thead>
                <tr>
                  <th>{t("rules.rule")}</th>
                  <th>{t("rules.source")}</th>
                  {props.onEdit && <th class="actions-col">{t("common.actions")}</th>}
                </tr>
              </thead>
              <tbody>
                {rows.map((row) => (
                  <tr key={row.key}>
                    <td class="break">{describeRule(row.rule)}</td>
                    <td class="nowrap">
                      {row.stored ? (
                        <span title={dateTime(row.stored.updatedAt)}>
                          <Badge kind="info">{t("rules.fromProject")}</Badge>
                          <span class="muted small">{t("rules.changedBy", { user: row.stored.updatedBy, when: ago(row.stored.updatedAt) })}</span>
                        </span>
                      ) : (
                        <Badge>{t("rules.fromConfig")}</Badge>
                      )}
                    </td>
                    {props.onEdit && (
                      <td class="actions-col">
                        {row.stored && (
                          <div class="row-actions">
                            <button class="btn btn-small" onClick={() => props.onEdit!(row.stored!)}>
                              {t("rules.edit")}
                            </button>
                            <button class="btn btn-small btn-danger-ghost" onClick={() => props.onDelete!(row.stored!)}>
                              {t("common.delete")}
                            </button>
                          </div>
                        )}
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
            {!rows.length && <Empty>{t("rules.none")}</Empty>}
          </Card>
        );
      })}
    </>
  );
}

export function RulesPage(props: { project: string }) {
  const project = props.project;
  const rules = useLoad(() => get<ProjectRules>(`/api/v1/projects/${project}/rules`), [project]);
  const [editing, setEditing] = useState<{ kind: RuleSpec["kind"]; rule: StoredRule | null } | null>(null);
  const [deleting, setDeleting] = useState<StoredRule | null>(null);
  const canEdit = !!rules.data?.canEdit;
  return (
    <>
      <PageHeader
        crumbs={
          <>
            <a href="/projects">{t("projects.title")}</a>
            <span>/</span>
            <span>{project}</span>
          </>
        }
        title={t("rules.title", { project })}
        subtitle={t("rules.help")}
        actions={
          canEdit && (
            <a class="btn" href={`/projects/${project}`}>
              {t("projects.members")}
            </a>
          )
        }
      />
      <ErrorBox error={rules.error} onRetry={rules.reload} />
      {!rules.data && rules.loading && <Spinner />}
      {rules.data && (
        <RulesTables
          rules={rules.data}
          onAdd={canEdit ? (kind) => setEditing({ kind, rule: null }) : undefined}
          onEdit={canEdit ? (rule) => setEditing({ kind: rule.kind, rule }) : undefined}
          onDelete={canEdit ? setDeleting : undefined}
        />
      )}
      <Preview project={project} />
      {editing && <RuleForm project={project} kind={editing.kind} rule={editing.rule} onClose={() => setEditing(null)} onDone={rules.reload} />}
      {deleting && (
        <Confirm
          title={t("common.delete")}
          message={`${t("rules.confirmDelete")} (${describeRule(deleting)})`}
          confirmLabel={t("common.delete")}
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await del(`/api/v1/projects/${project}/rules/${deleting.id}`);
            toast(t("rules.deleted"));
            rules.reload();
          }}
        />
      )}
    </>
  );
}

/** Runs the retention planner on demand (no deletion): the same decisions a GC dry run reports. */
function Preview(props: { project: string }) {
  const [result, setResult] = useState<RetentionPreview | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    try {
      setResult(await get<RetentionPreview>(`/api/v1/projects/${props.project}/rules/preview`));
      setError(null);
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card
      flush
      title={t("rules.preview")}
      actions={
        <button class="btn btn-small" data-testid="preview-retention" disabled={busy} onClick={run}>
          {t("rules.preview")}
        </button>
      }
    >
      <div class="card-body muted">{result ? (result.deletions.length ? t("rules.previewCount", { count: result.deletions.length }) : t("rules.previewEmpty")) : t("rules.previewHelp")}</div>
      <ErrorBox error={error} />
      {result && result.deletions.length > 0 && (
        <table class="table" data-testid="retention-preview">
          <thead>
            <tr>
              <th>{t("repo.col.tag")}</th>
              <th>{t("repo.col.pushed")}</th>
            </tr>
          </thead>
          <tbody>
            {result.deletions.map((d) => (
              <tr key={`${d.repository}:${d.tag}`}>
                <td>
                  <a class="tag-name" href={repoPath(d.repository)}>
                    {d.repository}:{d.tag}
                  </a>
                </td>
                <td title={dateTime(d.pushedAt)}>{ago(d.pushedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

const lines = (text: string) =>
  text
    .split(/\n/)
    .map((l) => l.trim())
    .filter(Boolean);
const optionalNumber = (text: string) => (text.trim() === "" ? undefined : Number(text));

function RuleForm(props: { project: string; kind: RuleSpec["kind"]; rule: StoredRule | null; onClose: () => void; onDone: () => void }) {
  const retention = props.rule?.kind === "retention" ? props.rule.spec : null;
  const immutable = props.rule?.kind === "immutable" ? props.rule.spec : null;
  const [keepLatest, setKeepLatest] = useState(retention?.keepLatest?.toString() ?? "");
  const [olderThan, setOlderThan] = useState(retention?.deleteOlderThanDays?.toString() ?? "");
  const [patterns, setPatterns] = useState((retention?.keepTags ?? immutable?.tags ?? []).join("\n"));
  const [error, setError] = useState<ApiError | null>(null);
  const isRetention = props.kind === "retention";
  const submit = async (e: Event) => {
    e.preventDefault();
    // The server validates (regular expressions, limits) and says what is wrong.
    const body: { kind: string } & (RetentionSpec | ImmutableSpec) = isRetention
      ? { kind: "retention", keepLatest: optionalNumber(keepLatest), deleteOlderThanDays: optionalNumber(olderThan), keepTags: lines(patterns) }
      : { kind: "immutable", tags: lines(patterns) };
    try {
      const base = `/api/v1/projects/${props.project}/rules`;
      await (props.rule ? put(`${base}/${props.rule.id}`, body) : post(base, body));
      toast(t("rules.saved"));
      props.onDone();
      props.onClose();
    } catch (err) {
      setError(err as ApiError);
    }
  };
  const title = props.rule ? (isRetention ? "rules.editRetention" : "rules.editImmutable") : isRetention ? "rules.addRetention" : "rules.addImmutable";
  return (
    <Modal
      title={t(title)}
      onClose={props.onClose}
      footer={
        <>
          <button class="btn" onClick={props.onClose}>
            {t("common.cancel")}
          </button>
          <button class="btn btn-primary" type="submit" form="rule-form">
            {t("common.save")}
          </button>
        </>
      }
    >
      <form id="rule-form" onSubmit={submit}>
        {isRetention && (
          <>
            <p class="muted">{t("rules.retentionHelp")}</p>
            <div class="form-grid">
              <Field label={t("rules.field.keepLatest")}>
                <input type="number" min="0" step="1" value={keepLatest} onInput={(e) => setKeepLatest((e.target as HTMLInputElement).value)} />
              </Field>
              <Field label={t("rules.field.deleteOlderThanDays")}>
                <input type="number" min="0" step="any" value={olderThan} onInput={(e) => setOlderThan((e.target as HTMLInputElement).value)} />
              </Field>
            </div>
          </>
        )}
        <Field label={t(isRetention ? "rules.field.keepTags" : "rules.field.tags")} hint={t("rules.patternHelp")}>
          <textarea rows={4} class="mono" value={patterns} required={!isRetention} onInput={(e) => setPatterns((e.target as HTMLTextAreaElement).value)} />
        </Field>
        <ErrorBox error={error} />
      </form>
    </Modal>
  );
}

/** The rules in force for a repository (its project's), compact, for the repository page. */
export function RulesSummary(props: { repository: string }) {
  const rules = useLoad(() => get<ProjectRules>(`/api/v1/repositories/${props.repository}/-/rules`), [props.repository]);
  // Anonymous visitors of a public repository may not read project settings: no card then.
  if (!rules.data) return null;
  const rows = [...rowsOf(rules.data, "retention"), ...rowsOf(rules.data, "immutable")];
  return (
    <Card
      title={t("repo.rules")}
      actions={
        <a class="btn btn-small" href={`/projects/${rules.data.project}/rules`}>
          {rules.data.canEdit ? t("rules.manage") : t("projects.rules")}
        </a>
      }
    >
      {rows.length ? (
        <ul class="rule-list" data-testid="repository-rules">
          {rows.map((row) => (
            <li key={`${row.rule.kind}-${row.key}`}>
              <Badge kind={row.rule.kind === "immutable" ? "warn" : "neutral"}>{t(row.rule.kind === "retention" ? "rules.retention" : "rules.immutable")}</Badge>
              <span class="break">{describeRule(row.rule)}</span>
              {!row.stored && <span class="muted small"> ({t("rules.fromConfig")})</span>}
            </li>
          ))}
        </ul>
      ) : (
        <span class="muted">{t("rules.none")}</span>
      )}
    </Card>
  );
}
