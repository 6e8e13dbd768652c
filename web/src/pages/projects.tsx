import { useState } from "preact/hooks";
import { ApiError, del, get, patch, post, put, type MyProject } from "../api";
import { Badge, Card, Confirm, Empty, ErrorBox, Field, Modal, PageHeader, Spinner, toast, useLoad } from "../components";
import { dateTime } from "../format";
import { t, type Key } from "../i18n";
import { isAdmin } from "../session";
import { ProjectStorageCard, QuotaEditor, StorageUsage } from "./project-quota";

/** Site admins see and manage every project; others see the projects they hold a role in, project admins manage theirs. */
export function ProjectsPage() {
  const projects = useLoad(() => get<MyProject[]>("/api/v1/me/projects"), []);
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<MyProject | null>(null);
  const [forcing, setForcing] = useState<{ name: string; count: number } | null>(null);
  const [quota, setQuota] = useState<MyProject | null>(null);
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
                        <button
                          class="btn btn-small"
                          onClick={async () => {
                            await patch(`/api/v1/projects/${p.name}`, { public: !p.public }).catch((e: ApiError) => toast(e.message, "error"));
                            projects.reload();
                          }}
                        >
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
      {deleting && (
        <Confirm
          title={t("common.delete")}
          message={t("projects.confirmDelete", { name: deleting.name })}
          confirmLabel={t("common.delete")}
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            const count = await deleteProject(deleting.name);
            if (count === null) projects.reload();
            else setForcing({ name: deleting.name, count });
          }}
        />
      )}
      {forcing && (
        <Confirm
          title={t("common.delete")}
          message={t("projects.confirmForce", { name: forcing.name, count: forcing.count })}
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
 * Deletes an empty project. One holding repositories is refused by the server (409 with their count): the
 * count is returned so the forced deletion can be offered, naming what it takes. Null when it was deleted.
 */
async function deleteProject(name: string): Promise<number | null> {
  try {
    await del(`/api/v1/projects/${name}`);
    return null;
  } catch (err) {
    const count = (err as ApiError).status === 409 ? ((err as ApiError).detail as { repositories?: unknown } | undefined)?.repositories : undefined;
    if (typeof count === "number") return count;
    throw err;
  }
}

function NewProject(props: { onClose: () => void; onDone: () => void }) {
  const [name, setName] = useState("");
  const [isPublic, setPublic] = useState(false);
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
  const setMember = async (user: string, r: string) => {
    try {
      await put(`/api/v1/projects/${props.project}/members/${user}`, { role: r });
      setError(null);
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
                    <select value={m.role} aria-label={t("members.role")} onChange={(e) => setMember(m.username, (e.target as HTMLSelectElement).value)}>
                      {ROLES.map((r) => (
                        <option key={r} value={r}>{t(`members.role.${r}`)}</option>
                      ))}
                    </select>
                  </td>
                  <td class="actions-col">
                    <button
                      class="btn btn-small btn-danger-ghost"
                      onClick={async () => {
                        await del(`/api/v1/projects/${props.project}/members/${m.username}`).catch((e: ApiError) => setError(e));
                        members.reload();
                      }}
                    >
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
    </>
  );
}
