import { useState } from "preact/hooks";
import { ApiError, del, get, post, put } from "../api";
import { Badge, Card, Confirm, Empty, ErrorBox, Field, Modal, PageHeader, Spinner, toast, useLoad } from "../components";
import { ago, dateTime } from "../format";
import { t, type Key } from "../i18n";

interface Delivery {
  at: string;
  event: string;
  success: boolean;
  httpStatus: number | null;
  durationMs: number;
  error: string | null;
}

interface Webhook {
  id: number;
  url: string;
  actions: string[];
  enabled: boolean;
  hasSecret: boolean;
  updatedBy: string;
  updatedAt: string;
  deliveries: Delivery[];
}

interface ConfiguredWebhook {
  name: string;
  url: string;
  actions: string[];
  repositories: string[];
  hasSecret: boolean;
}

interface WebhookView {
  actions: string[];
  endpoints: Webhook[];
  configured: ConfiguredWebhook[];
}

/** An action's name in the user's language; one the UI does not know yet, as the server calls it. */
function actionName(action: string): string {
  const key = `webhooks.action.${action}`;
  return key in ACTION_KEYS ? t(key as Key) : action;
}
const ACTION_KEYS = { "webhooks.action.push": true, "webhooks.action.pull": true, "webhooks.action.delete": true };

/** Deliveries shown per endpoint (the server keeps more). */
const SHOWN_DELIVERIES = 10;

/**
 * A project's webhooks: the endpoints its admins configure (add, edit, enable/disable, send a test, delete,
 * with each one's last deliveries) and, read-only, those from the server's configuration.
 */
export function WebhooksPage(props: { project: string }) {
  const base = `/api/v1/projects/${props.project}/webhooks`;
  const view = useLoad(() => get<WebhookView>(base), [props.project]);
  const [editing, setEditing] = useState<Webhook | "new" | null>(null);
  const [deleting, setDeleting] = useState<Webhook | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const test = async (hook: Webhook) => {
    try {
      const result = await post<Delivery>(`${base}/${hook.id}/test`);
      toast(result.success ? t("webhooks.testOk", { status: result.httpStatus ?? "" }) : t("webhooks.testFailed", { error: result.error ?? "" }), result.success ? "ok" : "error");
      setError(null);
      view.reload();
    } catch (err) {
      setError(err as ApiError);
    }
  };
  return (
    <>
      <PageHeader
        crumbs={<><a href="/projects">{t("projects.title")}</a><span>/</span><a href={`/projects/${props.project}`}>{props.project}</a><span>/</span><span>{t("webhooks.nav")}</span></>}
        title={t("webhooks.title", { project: props.project })}
        subtitle={t("webhooks.help")}
        actions={view.data && <button class="btn btn-primary" data-testid="add-webhook" onClick={() => setEditing("new")}>{t("webhooks.add")}</button>}
      />
      <ErrorBox error={view.error ?? error} onRetry={view.error ? view.reload : undefined} />
      {!view.data && !view.error && <Spinner />}
      {view.data && (
        <>
          {view.data.endpoints.map((hook) => (
            <Card
              key={hook.id}
              title={<code class="break" data-testid="webhook-url">{hook.url}</code>}
              actions={
                <div class="row-actions">
                  <button class="btn btn-small" data-testid="webhook-test" onClick={() => test(hook)}>{t("webhooks.test")}</button>
                  <button class="btn btn-small" onClick={() => setEditing(hook)}>{t("webhooks.edit")}</button>
                  <button class="btn btn-small btn-danger-ghost" onClick={() => setDeleting(hook)}>{t("common.delete")}</button>
                </div>
              }
            >
              <p class="webhook-summary">
                {hook.enabled ? <Badge kind="ok">{t("webhooks.enabled")}</Badge> : <Badge kind="warn">{t("webhooks.disabled")}</Badge>}{" "}
                <span>{t("webhooks.events")}: {hook.actions.map((a) => actionName(a)).join(", ")}</span>{" "}
                <span class="muted small">
                  {" · "}{hook.hasSecret ? t("webhooks.signed") : t("webhooks.unsigned")}
                  {" · "}<span title={dateTime(hook.updatedAt)}>{t("rules.changedBy", { user: hook.updatedBy, when: ago(hook.updatedAt) })}</span>
                </span>
              </p>
              <Deliveries deliveries={hook.deliveries.slice(0, SHOWN_DELIVERIES)} />
            </Card>
          ))}
          {!view.data.endpoints.length && <Card><Empty>{t("webhooks.none")}</Empty></Card>}
          <ConfiguredTable configured={view.data.configured} />
        </>
      )}
      {editing && view.data && (
        <WebhookEditor
          base={base}
          actions={view.data.actions}
          hook={editing === "new" ? null : editing}
          onClose={() => setEditing(null)}
          onDone={view.reload}
        />
      )}
      {deleting && (
        <Confirm
          title={t("webhooks.deleteTitle")}
          message={t("webhooks.deleteConfirm", { url: deleting.url })}
          confirmLabel={t("common.delete")}
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await del(`${base}/${deleting.id}`);
            view.reload();
          }}
        />
      )}
    </>
  );
}

function Deliveries(props: { deliveries: Delivery[] }) {
  if (!props.deliveries.length) return <p class="muted small">{t("webhooks.noDeliveries")}</p>;
  return (
    <table class="table" data-testid="webhook-deliveries">
      <thead>
        <tr>
          <th>{t("webhooks.time")}</th>
          <th>{t("webhooks.event")}</th>
          <th>{t("webhooks.status")}</th>
          <th>{t("webhooks.code")}</th>
          <th>{t("webhooks.duration")}</th>
          <th>{t("webhooks.error")}</th>
        </tr>
      </thead>
      <tbody>
        {props.deliveries.map((d, i) => (
          <tr key={`${d.at}-${i}`} data-testid="delivery-row">
            <td class="nowrap" title={dateTime(d.at)}>{ago(d.at)}</td>
            <td>{d.event}</td>
            <td>{d.success ? <Badge kind="ok">{t("webhooks.delivered")}</Badge> : <Badge kind="danger">{t("webhooks.failed")}</Badge>}</td>
            <td data-testid="delivery-code">{d.httpStatus ?? "—"}</td>
            <td class="nowrap">{d.durationMs} ms</td>
            <td class="break">{d.error ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ConfiguredTable(props: { configured: ConfiguredWebhook[] }) {
  if (!props.configured.length) return null;
  return (
    <Card flush title={t("webhooks.configured")}>
      <table class="table" data-testid="configured-webhooks">
        <thead>
          <tr>
            <th>{t("webhooks.name")}</th>
            <th>URL</th>
            <th>{t("webhooks.events")}</th>
            <th>{t("rules.source")}</th>
          </tr>
        </thead>
        <tbody>
          {props.configured.map((c) => (
            <tr key={c.name}>
              <td class="strong">{c.name}</td>
              <td class="break"><code>{c.url}</code></td>
              <td>{c.actions.map((a) => actionName(a)).join(", ")}{c.repositories.length ? ` · ${c.repositories.join(", ")}` : ""}</td>
              <td><Badge>{t("webhooks.fromConfig")}</Badge></td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}

/** Add or change an endpoint. The secret is write-only: left empty when editing, the stored one stays. */
function WebhookEditor(props: { base: string; actions: string[]; hook: Webhook | null; onClose: () => void; onDone: () => void }) {
  const hook = props.hook;
  const [url, setUrl] = useState(hook?.url ?? "");
  const [actions, setActions] = useState<string[]>(hook?.actions ?? ["push"]);
  const [secret, setSecret] = useState("");
  const [removeSecret, setRemoveSecret] = useState(false);
  const [enabled, setEnabled] = useState(hook?.enabled ?? true);
  const [error, setError] = useState<ApiError | null>(null);
  const toggle = (action: string, on: boolean) => setActions((list) => props.actions.filter((a) => (a === action ? on : list.includes(a))));
  return (
    <Modal
      title={hook ? t("webhooks.editTitle") : t("webhooks.add")}
      onClose={props.onClose}
      footer={
        <>
          <button class="btn" onClick={props.onClose}>{t("common.cancel")}</button>
          <button class="btn btn-primary" type="submit" form="webhook-form" data-testid="webhook-save">{t("common.save")}</button>
        </>
      }
    >
      <form
        id="webhook-form"
        onSubmit={async (e) => {
          e.preventDefault();
          const secretField = removeSecret ? { secret: null } : secret ? { secret } : hook ? {} : { secret: null };
          try {
            if (hook) await put(`${props.base}/${hook.id}`, { url, actions, enabled, ...secretField });
            else await post(props.base, { url, actions, enabled, ...secretField });
            props.onDone();
            props.onClose();
          } catch (err) {
            setError(err as ApiError);
          }
        }}
      >
        <Field label="URL" hint={t("webhooks.urlHelp")}>
          <input name="url" type="url" value={url} required placeholder="https://ci.example.com/hooks/berth" onInput={(e) => setUrl((e.target as HTMLInputElement).value)} />
        </Field>
        <div class="field">
          <span class="field-label">{t("webhooks.events")}</span>
          <div>
            {props.actions.map((a) => (
              <label key={a} class="check">
                <input type="checkbox" name={`action-${a}`} checked={actions.includes(a)} onChange={(e) => toggle(a, (e.target as HTMLInputElement).checked)} />
                {actionName(a)}
              </label>
            ))}
          </div>
        </div>
        <Field label={t("webhooks.secret")} hint={hook?.hasSecret ? t("webhooks.secretKept") : t("webhooks.secretHelp")}>
          <input name="secret" type="password" autocomplete="new-password" value={secret} disabled={removeSecret} onInput={(e) => setSecret((e.target as HTMLInputElement).value)} />
        </Field>
        {hook?.hasSecret && (
          <label class="check">
            <input type="checkbox" checked={removeSecret} onChange={(e) => setRemoveSecret((e.target as HTMLInputElement).checked)} />
            {t("webhooks.removeSecret")}
          </label>
        )}
        <label class="check">
          <input type="checkbox" name="enabled" checked={enabled} onChange={(e) => setEnabled((e.target as HTMLInputElement).checked)} />
          {t("webhooks.enabled")}
        </label>
        <ErrorBox error={error} />
      </form>
    </Modal>
  );
}
