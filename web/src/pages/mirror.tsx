import { useState } from "preact/hooks";
import { ApiError, get, post, type MirrorInfo } from "../api";
import { Badge, Card, Empty, ErrorBox, Field, PageHeader, Spinner, Stat, toast, useLoad } from "../components";
import { bytes, count, dateTime, percent } from "../format";
import { t } from "../i18n";

export function MirrorPage() {
  const info = useLoad(() => get<MirrorInfo>("/api/v1/mirror"), []);
  const [image, setImage] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const m = info.data;
  return (
    <>
      <PageHeader title={t("mirror.title")} />
      <ErrorBox error={info.error} onRetry={info.reload} />
      {!m && info.loading && <Spinner />}
      {m && !m.enabled && <div class="alert alert-info">{t("mirror.off")}</div>}
      {m?.enabled && (
        <>
          <div class="stats">
            <Stat label={t("mirror.hitRate")} value={percent(m.hitRate ?? 0)} hint={t("mirror.hits", { hits: count(m.hits ?? 0), misses: count(m.misses ?? 0) })} />
            <Stat label={t("mirror.saved")} value={bytes(m.bytesSaved ?? 0)} />
            <Stat label={t("mirror.fromUpstream")} value={bytes(m.bytesFromUpstream ?? 0)} />
            <Stat label={t("mirror.stale")} value={count(m.staleServes ?? 0)} />
          </div>
          <Card flush title={t("mirror.upstreams")}>
            <table class="table">
              <thead>
                <tr>
                  <th>{t("common.name")}</th>
                  <th>URL</th>
                  <th>{t("mirror.prefix")}</th>
                  <th>{t("mirror.health")}</th>
                  <th class="num">{t("mirror.latency")}</th>
                  <th class="num">{t("mirror.rateLimit")}</th>
                </tr>
              </thead>
              <tbody>
                {(m.upstreams ?? []).map((u) => {
                  const latency = m.upstreamLatencyMs?.[u.name];
                  return (
                    <tr key={u.name}>
                      <td class="strong">{u.name}</td>
                      <td><code>{u.url}</code></td>
                      <td>{u.prefix ? <code>{u.prefix}</code> : <span class="muted">{t("mirror.default")}</span>}</td>
                      <td>
                        <Badge kind={u.health === "closed" ? "ok" : u.health === "open" ? "danger" : "warn"}>{u.health === "closed" || u.health === "open" || u.health === "half-open" ? t(`mirror.state.${u.health}`) : u.health}</Badge>
                      </td>
                      <td class="num">{latency ? `${Math.round(latency.averageMs)} ms` : "—"}</td>
                      <td class="num">{u.rateLimitRemaining ?? "—"}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </Card>
          <div class="grid-2">
            <Card flush title={t("mirror.mostPulled")}>
              {m.mostPulled?.length ? (
                <table class="table">
                  <tbody>
                    {m.mostPulled.map((p) => (
                      <tr key={p.repository}>
                        <td><a href={`/repositories/${p.repository}`}>{p.repository}</a></td>
                        <td class="num">{count(p.pulls)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              ) : (
                <Empty />
              )}
            </Card>
            <Card flush title={t("mirror.errors")}>
              {m.recentErrors?.length ? (
                <table class="table">
                  <tbody>
                    {m.recentErrors.map((e, i) => (
                      <tr key={i}>
                        <td class="nowrap muted">{dateTime(e.at)}</td>
                        <td>{e.upstream}</td>
                        <td class="error-text">{e.message}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              ) : (
                <Empty>{t("mirror.noErrors")}</Empty>
              )}
            </Card>
          </div>
          <Card title={t("mirror.warm")}>
            <p class="muted first">{t("mirror.warmHelp")}</p>
            <form
              class="inline-form"
              onSubmit={async (e) => {
                e.preventDefault();
                setBusy(true);
                try {
                  await post("/api/v1/mirror/warm", { image });
                  toast(t("mirror.warmed", { image }));
                  setError(null);
                  info.reload();
                } catch (err) {
                  setError(err as ApiError);
                }
                setBusy(false);
              }}
            >
              <Field label={t("image.title")}>
                <input value={image} placeholder="library/alpine:3.20" onInput={(e) => setImage((e.target as HTMLInputElement).value)} required />
              </Field>
              <button class="btn btn-primary" type="submit" disabled={busy}>{t("mirror.warmButton")}</button>
            </form>
            <ErrorBox error={error} />
          </Card>
        </>
      )}
    </>
  );
}
