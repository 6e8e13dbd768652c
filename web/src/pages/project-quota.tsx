import { useState } from "preact/hooks";
import { ApiError, patch, type Project } from "../api";
import { Card, ErrorBox, Field, Modal } from "../components";
import { bytes, count } from "../format";
import { t } from "../i18n";

/** "1.2 MB of 10 GB" (with a bar) or "1.2 MB, no quota": what a project stores against what it may. */
export function StorageUsage(props: { project: Project }) {
  const { usedBytes, quotaBytes } = props.project;
  if (quotaBytes === null) return <span class="quota-usage">{t("quota.unlimited", { used: bytes(usedBytes) })}</span>;
  const share = quotaBytes === 0 ? 1 : Math.min(usedBytes / quotaBytes, 1);
  return (
    <span class="quota-usage" title={`${usedBytes} / ${quotaBytes} B`}>
      <span class="progress quota-bar" role="meter" aria-valuemin={0} aria-valuemax={quotaBytes} aria-valuenow={usedBytes}>
        <span class="progress-bar" style={{ width: `${Math.round(share * 100)}%` }} />
        <span>{t("quota.usage", { used: bytes(usedBytes), quota: bytes(quotaBytes) })}</span>
      </span>
    </span>
  );
}

/** The project page's storage card: repositories, usage and quota; site admins change the quota here. */
export function ProjectStorageCard(props: { project: Project; canEdit: boolean; onChanged: () => void }) {
  const [editing, setEditing] = useState(false);
  return (
    <Card
      title={t("quota.storage")}
      actions={props.canEdit && <button class="btn btn-small" onClick={() => setEditing(true)}>{t("quota.edit")}</button>}
    >
      <p>{t("quota.repositories", { count: count(props.project.repositories) })}</p>
      <StorageUsage project={props.project} />
      {editing && <QuotaEditor project={props.project} onClose={() => setEditing(false)} onDone={props.onChanged} />}
    </Card>
  );
}

/** Sets the quota as people write sizes ("10GiB", "500MB", bytes); empty lifts it. The server checks the value. */
export function QuotaEditor(props: { project: Project; onClose: () => void; onDone: () => void }) {
  const [value, setValue] = useState(props.project.quotaBytes === null ? "" : String(props.project.quotaBytes));
  const [error, setError] = useState<ApiError | null>(null);
  return (
    <Modal
      title={t("quota.title", { project: props.project.name })}
      onClose={props.onClose}
      footer={
        <>
          <button class="btn" onClick={props.onClose}>{t("common.cancel")}</button>
          <button class="btn btn-primary" type="submit" form="project-quota">{t("common.save")}</button>
        </>
      }
    >
      <form
        id="project-quota"
        onSubmit={async (e) => {
          e.preventDefault();
          const text = value.trim();
          try {
            await patch(`/api/v1/projects/${props.project.name}`, { quota: text === "" ? null : /^\d+$/.test(text) ? Number(text) : text });
            props.onDone();
            props.onClose();
          } catch (err) {
            setError(err as ApiError);
          }
        }}
      >
        <Field label={t("quota.label")} hint={t("quota.help")}>
          <input name="quota" value={value} placeholder="10GiB" onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
        </Field>
        <ErrorBox error={error} />
      </form>
    </Modal>
  );
}
