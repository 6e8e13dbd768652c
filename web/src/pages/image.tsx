import { useState } from "preact/hooks";
import { get, type ImageDetail, type RepositoryDetail } from "../api";
import { Badge, Card, Command, CopyButton, Empty, ErrorBox, Icon, PageHeader, Spinner, Stat, useLoad } from "../components";
import { ago, apiRepo, bytes, dateTime, platform, repoPath, shortDigest } from "../format";
import { t } from "../i18n";
import { session } from "../session";
import { Retag } from "./repository";
import { DeleteManifestDialog, leaveIfEmpty } from "./artifacts";
import { navigate } from "../router";
import { ExportDialog } from "./image-export";

export function ImagePage(props: { repository: string; reference: string }) {
  const { repository, reference } = props;
  const image = useLoad(() => get<ImageDetail>(`${apiRepo(repository)}/-/manifests/${reference}`), [repository, reference]);
  const repo = useLoad(() => get<RepositoryDetail>(apiRepo(repository)), [repository]);
  const [retag, setRetag] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [exporting, setExporting] = useState(false);
  const host = session()?.registry ?? "";
  const d = image.data;
  const project = repository.split("/")[0];
  const title = d?.tags.length ? `${repository}:${d.tags[0]}` : `${repository}@${shortDigest(reference)}`;
  return (
    <>
      <PageHeader
        crumbs={
          <>
            <a href="/repositories">{t("nav.repositories")}</a>
            <span>/</span>
            <a href={`/repositories?project=${project}`}>{project}</a>
            <span>/</span>
            <a href={repoPath(repository)}>{repository.slice(project.length + 1)}</a>
          </>
        }
        title={<span class="mono-title">{title}</span>}
        subtitle={d && <Badge kind={d.kind === "index" ? "info" : "neutral"}>{t(`repo.kind.${d.kind}`)}</Badge>}
        actions={
          d && (
            <>
              {d.kind !== "other" && (
                <button class="btn" data-testid="export-open" onClick={() => setExporting(true)}>
                  <Icon name="download" /> {t("export.open")}
                </button>
              )}
              <button class="btn" onClick={() => setRetag(true)}>
                <Icon name="tag" /> {t("repo.retag")}
              </button>
              {repo.data?.actions.includes("delete") && (
                <button class="btn btn-danger-ghost" data-testid="delete-image" onClick={() => setDeleting(true)}>
                  {t("repo.deleteManifest")}
                </button>
              )}
            </>
          )
        }
      />
      <ErrorBox error={image.error} onRetry={image.reload} />
      {!d && image.loading && <Spinner />}
      {d && (
        <>
          <div class="stats">
            {d.config && <Stat label={t("image.platform")} value={platform({ os: d.config.os ?? "?", architecture: d.config.architecture ?? "?", variant: d.config.variant ?? undefined })} />}
            {d.kind === "index" && <Stat label={t("image.platforms")} value={d.children.filter((c) => !c.attestation).length} />}
            <Stat label={t("image.size")} value={bytes(d.size)} />
            <Stat label={t("image.created")} value={d.config?.created ? ago(d.config.created) : "—"} hint={d.config?.created ? dateTime(d.config.created) : undefined} />
            <Stat label={t("image.pushed")} value={ago(d.createdAt)} hint={d.lastPulledAt ? `${t("repo.col.pulled")}: ${ago(d.lastPulledAt)}` : undefined} />
          </div>
          <Card title={t("image.overview")}>
            <dl class="props">
              <dt>{t("image.digest")}</dt>
              <dd>
                <code class="break">{d.digest}</code> <CopyButton small text={d.digest} />
              </dd>
              <dt>{t("image.mediaType")}</dt>
              <dd>
                <code>{d.mediaType}</code>
              </dd>
              {d.artifactType && (
                <>
                  <dt>{t("image.artifactType")}</dt>
                  <dd>
                    <code>{d.artifactType}</code>
                  </dd>
                </>
              )}
              <dt>{t("image.tags")}</dt>
              <dd>{d.tags.length ? d.tags.map((tag) => <Badge key={tag}>{tag}</Badge>) : <span class="muted">{t("common.none")}</span>}</dd>
              <dt>{t("repo.pull")}</dt>
              <dd class="commands">
                {d.tags[0] && <Command text={`docker pull ${host}/${repository}:${d.tags[0]}`} />}
                <Command text={`docker pull ${host}/${repository}@${d.digest}`} />
              </dd>
            </dl>
          </Card>
          {d.kind === "index" && (
            <Card flush title={t("image.platforms")}>
              <table class="table">
                <thead>
                  <tr>
                    <th>{t("image.platform")}</th>
                    <th>{t("image.digest")}</th>
                    <th class="num">{t("image.size")}</th>
                  </tr>
                </thead>
                <tbody>
                  {d.children.map((c) => (
                    <tr key={c.digest}>
                      <td>
                        {c.stored ? <a href={`${repoPath(repository)}/-/manifests/${c.digest}`}>{platform(c.platform) || c.mediaType}</a> : platform(c.platform)}{" "}
                        {c.attestation && <Badge>{t("image.attestation")}</Badge>}
                        {!c.stored && <Badge kind="warn">{t("image.notStored")}</Badge>}
                      </td>
                      <td>
                        <code title={c.digest}>{shortDigest(c.digest)}</code>
                      </td>
                      <td class="num">{bytes(c.size)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Card>
          )}
          {d.configError && <div class="alert alert-warn">{t("image.configError", { error: d.configError })}</div>}
          {d.config && <ConfigCard config={d.config} />}
          {d.kind === "image" && (
            <Card flush title={t("image.layers")}>
              <table class="table layers" data-testid="layers">
                <thead>
                  <tr>
                    <th class="num">#</th>
                    <th>{t("image.layer.cmd")}</th>
                    <th class="num">{t("image.layer.size")}</th>
                    <th>{t("image.digest")}</th>
                  </tr>
                </thead>
                <tbody>
                  {d.layers.map((l, i) => (
                    <tr key={i} class={l.layer ? "" : "empty-layer"}>
                      <td class="num muted">{i + 1}</td>
                      <td>
                        <code class="history-cmd">{cleanCommand(l.step?.createdBy ?? "")}</code>
                        {l.step?.created && <div class="muted small">{dateTime(l.step.created)}</div>}
                      </td>
                      <td class="num">{l.layer ? bytes(l.layer.size) : <span class="muted">{t("image.layer.empty")}</span>}</td>
                      <td>{l.layer && <code title={l.layer.digest}>{shortDigest(l.layer.digest)}</code>}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {!d.layers.length && <Empty />}
            </Card>
          )}
          <Card flush title={t("image.referrers")}>
            {d.referrers.length ? (
              <table class="table">
                <thead>
                  <tr>
                    <th>{t("image.artifactType")}</th>
                    <th>{t("image.digest")}</th>
                    <th class="num">{t("image.size")}</th>
                  </tr>
                </thead>
                <tbody>
                  {d.referrers.map((r) => (
                    <tr key={r.digest}>
                      <td>
                        <code>{r.artifactType ?? r.mediaType}</code>
                      </td>
                      <td>
                        <a href={`${repoPath(repository)}/-/manifests/${r.digest}`}>
                          <code>{shortDigest(r.digest)}</code>
                        </a>
                      </td>
                      <td class="num">{bytes(r.size)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <Empty>{t("image.referrers.none")}</Empty>
            )}
          </Card>
          <details class="card raw">
            <summary>{t("image.manifest")}</summary>
            <pre>{JSON.stringify(d.manifest, null, 2)}</pre>
          </details>
        </>
      )}
      {exporting && d && <ExportDialog repository={repository} image={d} onClose={() => setExporting(false)} />}
      {retag && d && <Retag name={repository} reference={d.digest} onClose={() => setRetag(false)} onDone={() => image.reload()} />}
      {deleting && d && (
        <DeleteManifestDialog
          name={repository}
          digest={d.digest}
          tags={d.tags}
          onClose={() => setDeleting(false)}
          onDone={async () => {
            if (!(await leaveIfEmpty(repository))) navigate(repoPath(repository));
          }}
        />
      )}
    </>
  );
}

/** Docker's "/bin/sh -c #(nop) " prefixes say nothing to a reader. */
function cleanCommand(cmd: string): string {
  return cmd.replace(/^\/bin\/sh -c #\(nop\)\s*/, "").replace(/^\/bin\/sh -c /, "RUN ").trim();
}

function ConfigCard(props: { config: NonNullable<ImageDetail["config"]> }) {
  const c = props.config;
  const json = (v: string[] | null) => (v ? JSON.stringify(v) : null);
  const rows: Array<[string, preact.ComponentChildren]> = [];
  if (c.entrypoint) rows.push([t("image.entrypoint"), <code>{json(c.entrypoint)}</code>]);
  if (c.cmd) rows.push([t("image.cmd"), <code>{json(c.cmd)}</code>]);
  if (c.workingDir) rows.push([t("image.workdir"), <code>{c.workingDir}</code>]);
  if (c.user) rows.push([t("image.user"), <code>{c.user}</code>]);
  if (c.exposedPorts.length) rows.push([t("image.ports"), c.exposedPorts.map((p) => <Badge key={p}>{p}</Badge>)]);
  if (c.volumes.length) rows.push([t("image.volumes"), c.volumes.map((v) => <Badge key={v}>{v}</Badge>)]);
  if (c.author) rows.push([t("image.author"), c.author]);
  return (
    <Card title={t("image.config")}>
      <dl class="props" data-testid="config">
        {rows.map(([k, v]) => (
          <>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </>
        ))}
        {c.env.length > 0 && (
          <>
            <dt>{t("image.env")}</dt>
            <dd>
              <ul class="kv-list">
                {c.env.map((e) => {
                  const i = e.indexOf("=");
                  return (
                    <li key={e}>
                      <code>
                        <span class="kv-key">{i === -1 ? e : e.slice(0, i)}</span>
                        {i !== -1 && <>={e.slice(i + 1)}</>}
                      </code>
                    </li>
                  );
                })}
              </ul>
            </dd>
          </>
        )}
        {Object.keys(c.labels).length > 0 && (
          <>
            <dt>{t("image.labels")}</dt>
            <dd>
              <ul class="kv-list">
                {Object.entries(c.labels).map(([k, v]) => (
                  <li key={k}>
                    <code>
                      <span class="kv-key">{k}</span>={v}
                    </code>
                  </li>
                ))}
              </ul>
            </dd>
          </>
        )}
      </dl>
    </Card>
  );
}
