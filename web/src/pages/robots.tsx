import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { ApiError, del, get, patch, post, type Robot } from "../api";
import { Badge, Card, Command, Confirm, CopyButton, Empty, ErrorBox, Field, Modal, PageHeader, Spinner, toast, useLoad } from "../components";
import { dateTime } from "../format";
import { t } from "../i18n";
import { session } from "../session";

const ACTIONS = ["pull", "push", "delete"] as const;
type Permission = { project: string; actions: string[] };

/** Every robot account (site admins): system robots, and each project's robots marked with the project. */
export function RobotsPage() {
  const [creating, setCreating] = useState(false);
  return (
    <>
      <PageHeader title={t("robots.title")} actions={<button class="btn btn-primary" onClick={() => setCreating(true)}>{t("robots.new")}</button>} />
      <RobotList base="/api/v1/robots" creating={creating} onCreatingDone={() => setCreating(false)} />
    </>
  );
}

/** A project's own robots, on its page: its admins create and manage them; their rights stay within it. */
export function ProjectRobots(props: { project: string }) {
  const [creating, setCreating] = useState(false);
  return (
    <Card
      title={t("robotLife.projectTitle")}
      actions={<button class="btn btn-small btn-primary" data-testid="new-project-robot" onClick={() => setCreating(true)}>{t("robots.new")}</button>}
    >
      <p class="muted">{t("robotLife.projectHint", { project: props.project })}</p>
      <RobotList base={`/api/v1/projects/${props.project}/robots`} project={props.project} creating={creating} onCreatingDone={() => setCreating(false)} />
    </Card>
  );
}

/**
 * The robots under one API base (all robots, or one project's) with their lifecycle: create, edit,
 * disable/enable, refresh the secret (shown once, like a new robot's), delete.
 */
function RobotList(props: { base: string; project?: string; creating: boolean; onCreatingDone: () => void }) {
  const robots = useLoad(() => get<Robot[]>(props.base), [props.base]);
  const [editing, setEditing] = useState<Robot | null>(null);
  const [secret, setSecret] = useState<{ title: string; robot: Robot; secret: string } | null>(null);
  const [refreshing, setRefreshing] = useState<Robot | null>(null);
  const [deleting, setDeleting] = useState<Robot | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const path = (r: Robot) => `${props.base}/${encodeURIComponent(r.name)}`;
  const Frame = props.project ? TableWrap : FlushCard;
  const toggle = async (r: Robot) => {
    try {
      await patch(path(r), { disabled: !r.disabled });
      setError(null);
      toast(t(r.disabled ? "robotLife.enabledToast" : "robotLife.disabledToast", { name: r.name }));
      robots.reload();
    } catch (err) {
      setError(err as ApiError);
    }
  };
  return (
    <>
      <ErrorBox error={robots.error ?? error} onRetry={robots.error ? robots.reload : undefined} />
      {!robots.data && robots.loading && <Spinner />}
      {robots.data && (
        // On a project's page the list sits in that page's card already.
        <Frame>
          <table class="table" data-testid="robot-table">
            <thead>
              <tr>
                <th>{t("common.name")}</th>
                {!props.project && <th>{t("robotLife.project")}</th>}
                <th>{t("robots.description")}</th>
                <th>{t("robots.permissions")}</th>
                <th>{t("robots.expires")}</th>
                <th>{t("robotLife.status")}</th>
                <th>{t("common.created")}</th>
                <th class="actions-col">{t("common.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {robots.data.map((r) => (
                <tr key={r.name} data-robot={r.name}>
                  <td class="strong"><code>{r.name}</code></td>
                  {!props.project && <td>{r.project ?? <span class="muted">{t("robotLife.system")}</span>}</td>}
                  <td>{r.description || <span class="muted">—</span>}</td>
                  <td>
                    {r.permissions.map((p) => (
                      <Badge key={p.project} kind="info">
                        {p.project}: {p.actions.join(", ")}
                      </Badge>
                    ))}
                  </td>
                  <td>{r.expiresAt ? dateTime(r.expiresAt) : <span class="muted">{t("robots.noExpiry")}</span>}</td>
                  <td data-testid="robot-status"><RobotStatus robot={r} /></td>
                  <td>{dateTime(r.createdAt)}</td>
                  <td class="actions-col">
                    <button class="btn btn-small" onClick={() => setEditing(r)}>{t("robotLife.edit")}</button>{" "}
                    <button class="btn btn-small" onClick={() => setRefreshing(r)}>{t("robotLife.refresh")}</button>{" "}
                    <button class="btn btn-small" onClick={() => toggle(r)}>{t(r.disabled ? "robotLife.enable" : "robotLife.disable")}</button>{" "}
                    <button class="btn btn-small btn-danger-ghost" onClick={() => setDeleting(r)}>{t("common.delete")}</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {!robots.data.length && <Empty />}
        </Frame>
      )}
      {props.creating && (
        <RobotEditor
          base={props.base}
          project={props.project}
          onClose={props.onCreatingDone}
          onSaved={(result) => {
            props.onCreatingDone();
            if (result.secret) setSecret({ title: t("robots.secretTitle", { name: result.robot.name }), robot: result.robot, secret: result.secret });
            robots.reload();
          }}
        />
      )}
      {editing && (
        <RobotEditor
          base={props.base}
          project={props.project}
          robot={editing}
          onClose={() => setEditing(null)}
          onSaved={(result) => {
            setEditing(null);
            toast(t("robotLife.updatedToast", { name: result.robot.name }));
            robots.reload();
          }}
        />
      )}
      {refreshing && (
        <Confirm
          title={t("robotLife.refresh")}
          message={t("robotLife.confirmRefresh", { name: refreshing.name })}
          confirmLabel={t("robotLife.refresh")}
          onClose={() => setRefreshing(null)}
          onConfirm={async () => {
            const result = await post<{ robot: Robot; secret: string }>(`${path(refreshing)}/secret`);
            setSecret({ title: t("robotLife.refreshedTitle", { name: result.robot.name }), ...result });
            robots.reload();
          }}
        />
      )}
      {secret && <SecretShownOnce title={secret.title} robot={secret.robot} secret={secret.secret} onClose={() => setSecret(null)} />}
      {deleting && (
        <Confirm
          title={t("common.delete")}
          message={t("robots.confirmDelete", { name: deleting.name })}
          confirmLabel={t("common.delete")}
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await del(path(deleting));
            robots.reload();
          }}
        />
      )}
    </>
  );
}

const TableWrap = (p: { children: ComponentChildren }) => <div class="table-wrap">{p.children}</div>;
const FlushCard = (p: { children: ComponentChildren }) => <Card flush>{p.children}</Card>;

function RobotStatus(props: { robot: Robot }) {
  if (props.robot.disabled) return <Badge kind="danger">{t("robotLife.disabled")}</Badge>;
  if (props.robot.expiresAt && new Date(props.robot.expiresAt).getTime() <= Date.now()) return <Badge kind="warn">{t("robotLife.expired")}</Badge>;
  return <Badge kind="ok">{t("robotLife.active")}</Badge>;
}

/** A secret, new or refreshed: shown here once, with the docker login line that uses it. */
function SecretShownOnce(props: { title: string; robot: Robot; secret: string; onClose: () => void }) {
  return (
    <Modal title={props.title} onClose={props.onClose} footer={<button class="btn btn-primary" onClick={props.onClose}>{t("common.close")}</button>}>
      <div class="alert alert-warn">{t("robots.secretWarning")}</div>
      <div class="secret" data-testid="robot-secret">
        <code>{props.secret}</code>
        <CopyButton text={props.secret} />
      </div>
      <p class="muted">{t("robots.login")}</p>
      <Command text={`echo '${props.secret}' | docker login ${session()?.registry ?? ""} -u '${props.robot.name}' --password-stdin`} />
    </Modal>
  );
}

/** The date input's value (YYYY-MM-DD, local) of an expiry, or "". */
function dateInput(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/**
 * Creates a robot, or edits one (`robot`): description, permissions, expiry. A project's robots get action
 * checkboxes for that project only. An edit sends only what changed, so an expired robot's description can
 * still be edited and untouched rights do not end its tokens.
 */
function RobotEditor(props: { base: string; project?: string; robot?: Robot; onClose: () => void; onSaved: (r: { robot: Robot; secret?: string }) => void }) {
  const initial = props.robot;
  const [name, setName] = useState("");
  const [description, setDescription] = useState(initial?.description ?? "");
  const [expires, setExpires] = useState(dateInput(initial?.expiresAt ?? null));
  const [permissions, setPermissions] = useState<Permission[]>(initial?.permissions ?? [{ project: props.project ?? "", actions: ["pull"] }]);
  const [error, setError] = useState<ApiError | null>(null);
  const update = (i: number, change: Partial<Permission>) => setPermissions(permissions.map((p, j) => (i === j ? { ...p, ...change } : p)));
  const expiresAt = expires ? new Date(`${expires}T23:59:59`).toISOString() : null;
  const body = () => {
    const chosen = permissions.filter((p) => p.project);
    if (!initial) return { name, ...(description ? { description } : {}), permissions: chosen, ...(expiresAt ? { expiresAt } : {}) };
    return {
      ...(description !== initial.description ? { description } : {}),
      ...(JSON.stringify(chosen) !== JSON.stringify(initial.permissions) ? { permissions: chosen } : {}),
      ...(expires !== dateInput(initial.expiresAt) ? { expiresAt } : {}),
    };
  };
  return (
    <Modal
      wide
      title={initial ? t("robotLife.editTitle", { name: initial.name }) : t("robots.new")}
      onClose={props.onClose}
      footer={
        <>
          <button class="btn" onClick={props.onClose}>{t("common.cancel")}</button>
          <button class="btn btn-primary" type="submit" form="robot-form">{initial ? t("common.save") : t("common.create")}</button>
        </>
      }
    >
      <form
        id="robot-form"
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            const changes = body();
            if (initial && !Object.keys(changes).length) return props.onClose();
            props.onSaved(
              initial
                ? { robot: await patch<Robot>(`${props.base}/${encodeURIComponent(initial.name)}`, changes) }
                : await post<{ robot: Robot; secret: string }>(props.base, changes),
            );
          } catch (err) {
            setError(err as ApiError);
          }
        }}
      >
        <div class="form-grid">
          {!initial && (
            <Field label={t("common.name")}>
              <div class="input-prefix">
                <span>{props.project ? `robot$${props.project}+` : "robot$"}</span>
                <input name="robot-name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} required />
              </div>
            </Field>
          )}
          <Field label={t("robots.expires")} hint={t("robotLife.expiresHint")}>
            <input type="date" name="robot-expires" value={expires} onInput={(e) => setExpires((e.target as HTMLInputElement).value)} />
          </Field>
        </div>
        <Field label={t("robots.description")} hint={t("common.optional")}>
          <input name="robot-description" value={description} onInput={(e) => setDescription((e.target as HTMLInputElement).value)} />
        </Field>
        <div class="field-label">{props.project ? t("robotLife.rights", { project: props.project }) : t("robots.permissions")}</div>
        {permissions.map((p, i) => (
          <div class="perm-row" key={i}>
            {!props.project && (
              <input placeholder={t("robots.project")} aria-label={t("robots.project")} value={p.project} onInput={(e) => update(i, { project: (e.target as HTMLInputElement).value })} />
            )}
            {ACTIONS.map((a) => (
              <label class="check" key={a}>
                <input
                  type="checkbox"
                  name={`robot-action-${a}`}
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
        {!props.project && (
          <button type="button" class="btn btn-small" onClick={() => setPermissions([...permissions, { project: "", actions: ["pull"] }])}>
            + {t("robots.addPermission")}
          </button>
        )}
        <ErrorBox error={error} />
      </form>
    </Modal>
  );
}
