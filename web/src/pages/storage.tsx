import { useState } from "preact/hooks";
import { ApiError, get, post, type GcReport, type GcRun, type StorageUsage } from "../api";
import { Badge, Card, Confirm, Empty, ErrorBox, PageHeader, Spinner, Stat, useLoad } from "../components";
import { GcSettingsCard, HeldBackNote } from "./gc-settings";
import { bytes, count, dateTime, shortDigest } from "../format";
import { t } from "../i18n";
import { heldBackVars } from "./gc-settings";

export function StoragePage() {
  const usage = useLoad(() => get<StorageUsage>("/api/v1/storage"), []);
  const gc = useLoad(() => get<{ available: boolean }>("/api/v1/gc"), []);
  return (
    <>
      <PageHeader title={t("storage.title")} />
      <ErrorBox error={usage.error} onRetry={usage.reload} />
      {!usage.data && usage.loading && <Spinner />}
      {usage.data && (
        <>
          <div class="stats">
            <Stat label={t("storage.total")} value={bytes(usage.data.totalBytes)} hint={t("storage.blobs", { count: count(usage.data.blobCount) })} />
          </div>
          <Card title={t("storage.byRepo")}>
            <p class="muted small">{t("storage.byRepoHelp")}</p>
            <UsageChart repositories={usage.data.repositories} />
          </Card>
        </>
      )}
      {gc.data && (gc.data.available ? <GcPanel onChanged={usage.reload} /> : <div class="alert alert-info" data-testid="gc-unavailable">{t("gc.unavailable")}</div>)}
    </>
  );
}

/** Horizontal bars, largest first: readable with long repository names, and no chart library. */
function UsageChart(props: { repositories: StorageUsage["repositories"] }) {
  const max = Math.max(1, ...props.repositories.map((r) => r.bytes));
  if (!props.repositories.length) return <Empty />;
  return (
    <div class="bar-chart" role="img" aria-label={t("storage.byRepo")}>
      {props.repositories.map((r) => (
        <div class="bar-row" key={r.name}>
          <a class="bar-label" href={`/repositories/${r.name}`} title={r.name}>
            {r.name}
          </a>
          <div class="bar-track">
            <div class="bar" style={{ width: `${Math.max(0.5, (r.bytes / max) * 100)}%` }} />
          </div>
          <div class="bar-value">{bytes(r.bytes)}</div>
        </div>
      ))}
    </div>
  );
}

function GcPanel(props: { onChanged: () => void }) {
  const history = useLoad(() => get<GcRun[]>("/api/v1/gc/runs?limit=20"), []);
  const [report, setReport] = useState<GcReport | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const run = async (dry: boolean) => {
    setBusy(true);
    setError(null);
    try {
      setReport(await post<GcReport>(dry ? "/api/v1/gc/dry-run" : "/api/v1/gc/runs"));
      history.reload();
      if (!dry) props.onChanged();
    } catch (err) {
      setError(err as ApiError);
    }
    setBusy(false);
  };
  return (
    <>
      <GcSettingsCard />
      <Card
        title={t("gc.title")}
        actions={
          <>
            <button class="btn" disabled={busy} onClick={() => run(true)} data-testid="gc-dry-run">
              {t("gc.dryRun")}
            </button>
            <button class="btn btn-danger" disabled={busy} onClick={() => setConfirm(true)}>
              {t("gc.run")}
            </button>
          </>
        }
      >
        <ErrorBox error={error} />
        {busy && <Spinner />}
        {report && (
          <div class="gc-report" data-testid="gc-report">
            <div class="stats">
              <Stat label={report.dryRun ? t("gc.wouldFree") : t("gc.freed")} value={bytes(report.bytesFreed)} />
              <Stat label={t("gc.manifests")} value={count(report.manifestsDeleted)} />
              <Stat label={t("gc.blobs")} value={count(report.blobsDeleted)} />
            </div>
            <HeldBackNote held={report.heldBack ?? null} />
            {report.items && report.items.length > 0 && (
              <details>
                <summary data-testid="gc-items-title">{report.dryRun ? t("gc.items") : t("gc.itemsDeleted")} ({report.items.length})</summary>
                <table class="table">
                  <tbody>
                    {report.items.map((i) => (
                      <tr key={i.kind + i.digest + (i.repository ?? "")}>
                        <td><Badge>{i.kind}</Badge></td>
                        <td>{i.repository ?? ""}</td>
                        <td><code>{shortDigest(i.digest)}</code></td>
                        <td class="num">{bytes(i.size)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </details>
            )}
          </div>
        )}
      </Card>
      <Card flush title={t("gc.history")}>
        <ErrorBox error={history.error} />
        {history.data && history.data.length > 0 ? (
          <table class="table">
            <thead>
              <tr>
                <th>{t("gc.started")}</th>
                <th>{t("gc.status")}</th>
                <th class="num">{t("gc.manifests")}</th>
                <th class="num">{t("gc.blobs")}</th>
                <th class="num">{t("gc.freed")}</th>
                <th class="num">{t("gc.grace")}</th>
                <th class="num">{t("gc.heldBackColumn")}</th>
                <th class="num">{t("gc.duration")}</th>
                <th>{t("gc.log")}</th>
              </tr>
            </thead>
            <tbody>
              {history.data.map((r) => (
                <tr key={r.id} data-testid={`gc-run-${r.id}`}>
                  <td>
                    {dateTime(r.startedAt)} {r.dryRun && <Badge>{t("gc.kind.dry")}</Badge>}
                  </td>
                  <td>
                    <Badge kind={r.status === "succeeded" ? "ok" : r.status === "failed" ? "danger" : "warn"} title={r.error ?? undefined}>
                      {r.status}
                    </Badge>
                  </td>
                  <td class="num">{count(r.manifestsDeleted)}</td>
                  <td class="num">{count(r.blobsDeleted)}</td>
                  <td class="num">{bytes(r.bytesFreed)}</td>
                  <td class="num">{r.heldBack?.graceText ?? "—"}</td>
                  <td class="num" title={r.heldBack ? t("gc.heldBack", heldBackVars(r.heldBack)) : undefined}>
                    {r.heldBack ? `${count(r.heldBack.manifests + r.heldBack.blobs)} (${bytes(r.heldBack.manifestBytes + r.heldBack.blobBytes)})` : "—"}
                  </td>
                  <td class="num">{r.finishedAt ? `${((Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000).toFixed(1)} s` : "—"}</td>
                  <td>
                    {!r.dryRun && r.status !== "running" && (
                      <a href={`/api/v1/gc/runs/${r.id}/log?format=csv`} download data-testid="gc-log" title={t("gc.downloadLog")}>
                        CSV
                      </a>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          history.data && <Empty>{t("gc.noRuns")}</Empty>
        )}
      </Card>
      {confirm && <Confirm title={t("gc.run")} message={t("gc.confirmRun")} confirmLabel={t("gc.run")} onClose={() => setConfirm(false)} onConfirm={() => run(false)} />}
    </>
  );
}
