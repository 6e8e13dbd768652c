import { useState } from "preact/hooks";
import { ApiError, del, get, patch, post, type User } from "../api";
import { Badge, Card, Confirm, ErrorBox, Field, Modal, PageHeader, Spinner, toast, useLoad } from "../components";
import { dateTime } from "../format";
import { t } from "../i18n";
import { session } from "../session";

export function UsersPage() {
  const users = useLoad(() => get<User[]>("/api/v1/users"), []);
  const [creating, setCreating] = useState(false);
  const [password, setPassword] = useState<User | null>(null);
  const [deleting, setDeleting] = useState<User | null>(null);
  const me = session()?.user?.name;
  const change = async (user: User, changes: Partial<User>) => {
    await patch(`/api/v1/users/${user.username}`, changes).catch((e: ApiError) => toast(e.message, "error"));
    users.reload();
  };
  return (
    <>
      <PageHeader title={t("users.title")} actions={<button class="btn btn-primary" onClick={() => setCreating(true)}>{t("users.new")}</button>} />
      <ErrorBox error={users.error} onRetry={users.reload} />
      {!users.data && users.loading && <Spinner />}
      {users.data && (
        <Card flush>
          <table class="table" data-testid="users">
            <thead>
              <tr>
                <th>{t("auth.username")}</th>
                <th>{t("users.admin")}</th>
                <th>{t("audit.result")}</th>
                <th>{t("common.created")}</th>
                <th class="actions-col">{t("common.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => (
                <tr key={u.username}>
                  <td class="strong">{u.username}</td>
                  <td>{u.isAdmin ? <Badge kind="info">{t("users.admin")}</Badge> : <span class="muted">—</span>}</td>
                  <td>{u.disabled ? <Badge kind="danger">{t("users.disabled")}</Badge> : <Badge kind="ok">{t("users.active")}</Badge>}</td>
                  <td>{dateTime(u.createdAt)}</td>
                  <td class="actions-col">
                    <div class="row-actions">
                      <button class="btn btn-small" disabled={u.username === me} onClick={() => change(u, { isAdmin: !u.isAdmin })}>
                        {u.isAdmin ? t("users.revokeAdmin") : t("users.makeAdmin")}
                      </button>
                      <button class="btn btn-small" disabled={u.username === me} onClick={() => change(u, { disabled: !u.disabled })}>
                        {u.disabled ? t("users.enable") : t("users.disable")}
                      </button>
                      <button class="btn btn-small" onClick={() => setPassword(u)}>{t("users.resetPassword")}</button>
                      <button class="btn btn-small btn-danger-ghost" disabled={u.username === me} onClick={() => setDeleting(u)}>{t("common.delete")}</button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
      )}
      {creating && <UserForm onClose={() => setCreating(false)} onDone={users.reload} />}
      {password && <UserForm user={password} onClose={() => setPassword(null)} onDone={users.reload} />}
      {deleting && (
        <Confirm
          title={t("common.delete")}
          message={t("users.confirmDelete", { name: deleting.username })}
          confirmLabel={t("common.delete")}
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await del(`/api/v1/users/${deleting.username}`);
            users.reload();
          }}
        />
      )}
    </>
  );
}

/** New user, or a new password for `user`. */
function UserForm(props: { user?: User; onClose: () => void; onDone: () => void }) {
  const [username, setUsername] = useState(props.user?.username ?? "");
  const [password, setPassword] = useState("");
  const [isAdmin, setAdmin] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  return (
    <Modal
      title={props.user ? `${t("users.resetPassword")}: ${props.user.username}` : t("users.new")}
      onClose={props.onClose}
      footer={
        <>
          <button class="btn" onClick={props.onClose}>{t("common.cancel")}</button>
          <button class="btn btn-primary" type="submit" form="user-form">{props.user ? t("common.save") : t("common.create")}</button>
        </>
      }
    >
      <form
        id="user-form"
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            if (props.user) await patch(`/api/v1/users/${props.user.username}`, { password });
            else await post("/api/v1/users", { username, password, isAdmin });
            props.onDone();
            props.onClose();
          } catch (err) {
            setError(err as ApiError);
          }
        }}
      >
        {!props.user && (
          <Field label={t("auth.username")}>
            <input value={username} autoComplete="off" onInput={(e) => setUsername((e.target as HTMLInputElement).value)} required />
          </Field>
        )}
        <Field label={props.user ? t("users.newPassword") : t("auth.password")} hint={t("users.passwordHelp")}>
          <input type="password" autoComplete="new-password" value={password} minLength={8} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} required />
        </Field>
        {!props.user && (
          <label class="check">
            <input type="checkbox" checked={isAdmin} onChange={(e) => setAdmin((e.target as HTMLInputElement).checked)} /> {t("users.admin")}
          </label>
        )}
        <ErrorBox error={error} />
      </form>
    </Modal>
  );
}
