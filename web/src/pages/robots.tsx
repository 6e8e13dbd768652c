import { useState } from "preact/hooks";
import { ApiError, del, get, post, type Robot } from "../api";
import { Badge, Card, Command, Confirm, CopyButton, Empty, ErrorBox, Field, Modal, PageHeader, Spinner, useLoad } from "../components";
import { dateTime } from "../format";
import { t } from "../i18n";
import { session } from "../session";

const ACTIONS = ["pull", "push", "delete"] as const;

export function RobotsPage() {
  const robots = useLoad(() => get<Robot[]>("/api/v1/robots"), []);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<{ robot: Robot; secret: string } | null>(null);
  const [deleting, setDeleting] = useState<Robot | null>(null);
  return (
    <>
      <PageHeader title={t("robots.title")} actions={<button class="btn btn-primary" onClick={() => setCreating(true)}>{t("robots.new")}</button>} />
      <ErrorBox error={robots.error} onRetry={robots.reload} />
      {!robots.data && robots.loading && <Spinner />}
      {robots.data && (
        <Card flush>
          <table class="table">
            <thead>
              <tr>
                <th>{t("common.name")}</th>
                <th>{t("robots.description")}</th>
                <th>{t("robots.permissions")}</th>
                <th>{t("robots.expires")}</th>
                <th>{t("common.created")}</th>
                <th class="actions-col">{t("common.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {robots.data.map((r) => (
                <tr key={r.name}>
                  <td class="strong"><code>{r.name}</code></td>
                  <td>{r.description || <span class="muted">—</span>}</td>
                  <td>
                    {r.permissions.map((p) => (
                      <Badge key={p.project} kind="info">
                        {p.project}: {p.actions.join(", ")}
                      </Badge>
                    ))}
                  </td>
                  <td>{r.expiresAt ? dateTime(r.expiresAt) : <span class="muted">{t("robots.noExpiry")}</span>}</td>
                  <td>{dateTime(r.createdAt)}</td>
                  <td class="actions-col">
                    <button class="btn btn-small btn-danger-ghost" onClick={() => setDeleting(r)}>{t("common.delete")}</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {!robots.data.length && <Empty />}
        </Card>
      )}
      {creating && (
        <NewRobot
          onClose={() => setCreating(false)}
          onCreated={(result) => {
            setCreating(false);
            setCreated(result);
            robots.reload();
          }}
        />
      )}
      {created && (
        <Modal
          title={t("robots.secretTitle", { name: created.robot.name })}
          onClose={() => setCreated(null)}
          footer={<button class="btn btn-primary" onClick={() => setCreated(null)}>{t("common.close")}</button>}
        >
          <div class="alert alert-warn">{t("robots.secretWarning")}</div>
          <div class="secret" data-testid="robot-secret">
            <code>{created.secret}</code>
            <CopyButton text={created.secret} />
          </div>
          <p class="muted">{t("robots.login")}</p>
          <Command text={`echo '${created.secret}' | docker login ${session()?.registry ?? ""} -u '${created.robot.name}' --password-stdin`} />
        </Modal>
      )}
      {deleting && (
        <Confirm
          title={t("common.delete")}
          message={t("robots.confirmDelete", { name: deleting.name })}
          confirmLabel={t("common.delete")}
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await del(`/api/v1/robots/${encodeURIComponent(deleting.name)}`);
            robots.reload();
          }}
        />
      )}
    </>
  );
}

function NewRobot(props: { onClose: () => void; onCreated: (r: { robot: Robot; secret: string }) => void }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [expires, setExpires] = useState("");
  const [permissions, setPermissions] = useState<Array<{ project: string; actions: string[] }>>([{ project: "", actions: ["pull"] }]);
  const [error, setError] = useState<ApiError | null>(null);
  const update = (i: number, change: Partial<{ project: string; actions: string[] }>) => setPermissions(permissions.map((p, j) => (i === j ? { ...p, ...change } : p)));
  return (
    <Modal
      wide
      title={t("robots.new")}
      onClose={props.onClose}
      footer={
        <>
          <button class="btn" onClick={props.onClose}>{t("common.cancel")}</button>
          <button class="btn btn-primary" type="submit" form="robot-form">{t("common.create")}</button>
        </>
      }
    >
      <form
        id="robot-form"
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            const body = {
              name,
              ...(description ? { description } : {}),
              permissions: permissions.filter((p) => p.project),
              ...(expires ? { expiresAt: new Date(`${expires}T23:59:59`).toISOString() } : {}),
            };
            props.onCreated(await post<{ robot: Robot; secret: string }>("/api/v1/robots", body));
          } catch (err) {
            setError(err as ApiError);
          }
        }}
      >
        <div class="form-grid">
          <Field label={t("common.name")}>
            <div class="input-prefix">
              <span>robot$</span>
              <input value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} required />
            </div>
          </Field>
          <Field label={t("robots.expires")} hint={t("common.optional")}>
            <input type="date" value={expires} onInput={(e) => setExpires((e.target as HTMLInputElement).value)} />
          </Field>
        </div>
        <Field label={t("robots.description")} hint={t("common.optional")}>
          <input value={description} onInput={(e) => setDescription((e.target as HTMLInputElement).value)} />
        </Field>
        <div class="field-label">{t("robots.permissions")}</div>
        {permissions.map((p, i) => (
          <div class="perm-row" key={i}>
            <input placeholder={t("robots.project")} aria-label={t("robots.project")} value={p.project} onInput={(e) => update(i, { project: (e.target as HTMLInputElement).value })} />
            {ACTIONS.map((a) => (
              <label class="check" key={a}>
                <input
                  type="checkbox"
                  checked={p.actions.includes(a)}
                  onChange={(e) => update(i, { actions: (e.target as HTMLInputElement).checked ? [...p.actions, a] : p.actions.filter((x) => x !== a) })}
                />{" "}
                {a}
              </label>
            ))}
            {permissions.length > 1 && (
              <button type="button" class="icon-btn" aria-label={t("common.remove")} onClick={() => setPermissions(permissions.filter((_, j) => j !== i))}>
                ×
              </button>
            )}
          </div>
        ))}
        <button type="button" class="btn btn-small" onClick={() => setPermissions([...permissions, { project: "", actions: ["pull"] }])}>
          + {t("robots.addPermission")}
        </button>
        <ErrorBox error={error} />
      </form>
    </Modal>
  );
}
