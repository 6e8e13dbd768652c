import { useEffect, useState } from "preact/hooks";
import { ApiError, del, get, patch, post, put, type MyProject } from "../api";
import { Badge, Card, Confirm, Empty, ErrorBox, Field, Modal, PageHeader, Spinner, toast, useLoad } from "../components";
import { dateTime } from "../format";
import { t, type Key } from "../i18n";
import { isAdmin } from "../session";
import { ProjectStorageCard, QuotaEditor, StorageUsage } from "./project-quota";
import { ProjectRobots } from "./robots";

/** Site admins see and manage every project; others see the projects they hold a role in, project admins manage theirs. */
export function ProjectsPage() {
  const projects = useLoad(() => get<MyProject[]>("/api/v1/me/projects"), []);
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<MyProject | null>(null);
  const [forcing, setForcing] = useState<{ name: string; count: number } | null>(null);
  const [quota, setQuota] = useState<MyProject | null>(null);
  const [visibility, setVisibility] = useState<MyProject | null>(null);
  const siteAdmin = isAdmin();
  return (
    <>
      <PageHeader
        title={t("projects.title")}
        subtitle={t("projects.publicHelp")}
        actions={siteAdmin && <button class="btn btn-primary" onClick={() => setCreating(true)}>{t("projects.new")}</button>}
      />
      <ErrorBox error={projects.error} onRetry={projects.reload} />
      {!projects.data && projects.loading && <Spinner />}
      {projects.data && (
        <Card flush>
          <table class="table">
            <thead>
              <tr>
                <th>{t("common.name")}</th>
                <th>{t("common.public")}</th>
                <th>{t("projects.role")}</th>
                <th class="num">{t("quota.repositoriesColumn")}</th>
                <th>{t("quota.storage")}</th>
                <th>{t("common.created")}</th>
                <th class="actions-col">{t("common.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {projects.data.map((p) => (
                <tr key={p.name} data-project={p.name}>
                  <td>
                    <a href={`/repositories?project=${p.name}`} class="strong">
                      {p.name}
                    </a>
                  </td>
                  <td>{p.public ? <Badge kind="info">{t("common.public")}</Badge> : <Badge>{t("common.private")}</Badge>}</td>
                  <td>{t(`members.role.${p.role}` as Key)}</td>
                  <td class="num" data-column="repositories">{p.repositories}</td>
                  <td data-column="storage"><StorageUsage project={p} /></td>
                  <td>{dateTime(p.createdAt)}</td>
                  <td class="actions-col">
                    <div class="row-actions">
                      {p.role === "admin" && (
                        <a class="btn btn-small" href={`/projects/${p.name}`}>
                          {t("projects.members")}
                        </a>
                      )}
                      <a class="btn btn-small" href={`/projects/${p.name}/rules`}>
                        {t("projects.rules")}
                      </a>
                      {p.role === "admin" && (
                        <button class="btn btn-small" onClick={() => setVisibility(p)} data-testid="toggle-visibility">
                          {p.public ? t("projects.makePrivate") : t("projects.makePublic")}
                        </button>
                      )}
                      {siteAdmin && (
                        <button class="btn btn-small" onClick={() => setQuota(p)}>
                          {t("quota.edit")}
                        </button>
                      )}
                      {siteAdmin && (
                        <button class="btn btn-small btn-danger-ghost" onClick={() => setDeleting(p)}>
                          {t("common.delete")}
                        </button>
                      )}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {!projects.data.length && <Empty />}
        </Card>
      )}
      {creating && <NewProject onClose={() => setCreating(false)} onDone={projects.reload} />}
      {quota && <QuotaEditor project={quota} onClose={() => setQuota(null)} onDone={projects.reload} />}
      {visibility && <VisibilityConfirm project={visibility} onClose={() => setVisibility(null)} onDone={projects.reload} />}
      {deleting && (
        <Confirm
          title={t("common.delete")}
          message={deleting.repositories ? t("safety.deleteFull", { name: deleting.name, count: deleting.repositories }) : t("safety.deleteEmpty", { name: deleting.name })}
          confirmLabel={deleting.repositories ? t("projects.deleteWithRepositories", { count: deleting.repositories }) : t("common.delete")}
          testId="confirm-delete-project"
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            // The server deletes a project with repositories only when forced. Forced only if it still holds
            // the number the admin was told; otherwise the new number is shown and asked about again.
            const count = await deleteProject(deleting.name, deleting.repositories);
            if (count === null) projects.reload();
            else setForcing({ name: deleting.name, count });
          }}
        />
      )}
      {forcing && (
        <Confirm
          title={t("common.delete")}
          message={t("safety.deleteFull", { name: forcing.name, count: forcing.count })}
          confirmLabel={t("projects.deleteWithRepositories", { count: forcing.count })}
          onClose={() => setForcing(null)}
          onConfirm={async () => {
            await del(`/api/v1/projects/${forcing.name}?force=true`);
            projects.reload();
          }}
        />
      )}
    </>
  );
}

/**
 * Deletes a project. One holding repositories is refused by the server (409 with their count): when that is
 * the count the admin agreed to (`agreed`), the deletion is forced; otherwise the count is returned so the
 * forced deletion can be offered, naming what it takes. Null when it was deleted.
 */
async function deleteProject(name: string, agreed: number): Promise<number | null> {
  try {
    await del(`/api/v1/projects/${name}`);
    return null;
  } catch (err) {
    const count = (err as ApiError).status === 409 ? ((err as ApiError).detail as { repositories?: unknown } | undefined)?.repositories : undefined;
    if (typeof count !== "number") throw err;
    if (count !== agreed) return count;
    await del(`/api/v1/projects/${name}?force=true`);
    return null;
  }
}

/** Says what a change of visibility means before making it: public opens every repository to anonymous pulls. */
function VisibilityConfirm(props: { project: MyProject; onClose: () => void; onDone: () => void }) {
  const { name, repositories } = props.project;
  const makePublic = !props.project.public;
  return (
    <Confirm
      title={t(makePublic ? "safety.makePublicTitle" : "safety.makePrivateTitle", { name })}
      message={t(makePublic ? "safety.makePublic" : "safety.makePrivate", { name, count: repositories })}
      confirmLabel={t(makePublic ? "safety.makePublicConfirm" : "safety.makePrivateConfirm", { name })}
      kind={makePublic ? "danger" : "primary"}
      testId="confirm-visibility"
      onClose={props.onClose}
      onConfirm={async () => {
        await patch(`/api/v1/projects/${name}`, { public: makePublic });
        toast(t("safety.visibilityChanged", { name, visibility: t(makePublic ? "common.public" : "common.private") }));
        props.onDone();
      }}
    />
  );
}

function NewProject(props: { onClose: () => void; onDone: () => void }) {
  const [name, setName] = useState("");
  const [isPublic, setPublic] = useState(false);
  // Starts at the default visibility in force (the Settings page's), which the admin may still change here.
  useEffect(() => {
    get<{ defaultVisibility: { value: string } }>("/api/v1/settings").then((s) => setPublic(s.defaultVisibility.value === "public"), () => undefined);
  }, []);
  const [error, setError] = useState<ApiError | null>(null);
  return (
    <Modal
      title={t("projects.new")}
      onClose={props.onClose}
      footer={
        <>
          <button class="btn" onClick={props.onClose}>{t("common.cancel")}</button>
          <button class="btn btn-primary" type="submit" form="new-project">{t("common.create")}</button>
        </>
      }
    >
      <form
        id="new-project"
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            await post("/api/v1/projects", { name, public: isPublic });
            props.onDone();
            props.onClose();
          } catch (err) {
            setError(err as ApiError);
          }
        }}
      >
        <Field label={t("common.name")}>
          <input value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} required />
        </Field>
        <label class="check">
          <input type="checkbox" checked={isPublic} onChange={(e) => setPublic((e.target as HTMLInputElement).checked)} /> {t("common.public")}
          <span class="field-hint">{t("projects.publicHelp")}</span>
        </label>
        <ErrorBox error={error} />
      </form>
    </Modal>
  );
}

const ROLES = ["guest", "developer", "maintainer", "admin"] as const;

export function MembersPage(props: { project: string }) {
  const members = useLoad(() => get<Array<{ username: string; role: string }>>(`/api/v1/projects/${props.project}/members`), [props.project]);
  const projects = useLoad(() => get<MyProject[]>("/api/v1/me/projects"), [props.project]);
  const project = projects.data?.find((p) => p.name === props.project);
  const [username, setUsername] = useState("");
  const [role, setRole] = useState<string>("developer");
  const [error, setError] = useState<ApiError | null>(null);
  const [removing, setRemoving] = useState<{ username: string; role: string } | null>(null);
  const roleName = (r: string) => t(`members.role.${r}` as Key);
  /** Sets a role and says so, naming the change (`from`: the role before, absent for a new member). */
  const setMember = async (user: string, r: string, from?: string) => {
    try {
      await put(`/api/v1/projects/${props.project}/members/${user}`, { role: r });
      setError(null);
      toast(
        from
          ? t("safety.roleChanged", { user, project: props.project, from: roleName(from), to: roleName(r) })
          : t("safety.memberAdded", { user, project: props.project, role: roleName(r) }),
      );
      members.reload();
    } catch (err) {
      setError(err as ApiError);
    }
  };
  return (
    <>
      <PageHeader
        crumbs={<><a href="/projects">{t("projects.title")}</a><span>/</span><span>{props.project}</span></>}
        title={t("members.title", { project: props.project })}
        actions={
          <>
            {/* The project's audit log is for its admins (the server enforces it). */}
            {(isAdmin() || project?.role === "admin") && (
              <a class="btn" data-testid="project-audit" href={`/projects/${props.project}/audit`}>
                {t("audit.projectTab")}
              </a>
            )}
            <a class="btn" href={`/projects/${props.project}/rules`}>{t("projects.rules")}</a>
            <a class="btn" href={`/projects/${props.project}/webhooks`} data-testid="project-webhooks">{t("webhooks.nav")}</a>
          </>
        }
      />
      <ErrorBox error={members.error ?? error} />
      {project && <ProjectStorageCard project={project} canEdit={isAdmin()} onChanged={projects.reload} />}
      <Card title={t("members.add")}>
        <form
          class="inline-form"
          onSubmit={async (e) => {
            e.preventDefault();
            await setMember(username, role);
            setUsername("");
          }}
        >
          <Field label={t("auth.username")}>
            <input value={username} onInput={(e) => setUsername((e.target as HTMLInputElement).value)} required />
          </Field>
          <Field label={t("members.role")}>
            <select value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value)}>
              {ROLES.map((r) => (
                <option key={r} value={r}>{t(`members.role.${r}`)}</option>
              ))}
            </select>
          </Field>
          <button class="btn btn-primary" type="submit">{t("common.add")}</button>
        </form>
      </Card>
      {members.data && (
        <Card flush>
          <table class="table">
            <thead>
              <tr>
                <th>{t("auth.username")}</th>
                <th>{t("members.role")}</th>
                <th class="actions-col">{t("common.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {members.data.map((m) => (
                <tr key={m.username}>
                  <td class="strong">{m.username}</td>
                  <td>
                    <select value={m.role} aria-label={t("members.role")} onChange={(e) => setMember(m.username, (e.target as HTMLSelectElement).value, m.role)}>
                      {ROLES.map((r) => (
                        <option key={r} value={r}>{t(`members.role.${r}`)}</option>
                      ))}
                    </select>
                  </td>
                  <td class="actions-col">
                    <button class="btn btn-small btn-danger-ghost" onClick={() => setRemoving(m)}>
                      {t("common.remove")}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {!members.data.length && <Empty />}
        </Card>
      )}
      <ProjectRobots project={props.project} />
      {removing && (
        <Confirm
          title={t("safety.removeMemberTitle", { user: removing.username, project: props.project })}
          message={t("safety.removeMember", { user: removing.username, project: props.project, role: roleName(removing.role) })}
          confirmLabel={t("safety.removeMemberConfirm", { user: removing.username })}
          testId="confirm-remove-member"
          onClose={() => setRemoving(null)}
          onConfirm={async () => {
            await del(`/api/v1/projects/${props.project}/members/${removing.username}`);
            toast(t("safety.memberRemoved", { user: removing.username, project: props.project }));
            members.reload();
          }}
        />
      )}
    </>
  );
}
