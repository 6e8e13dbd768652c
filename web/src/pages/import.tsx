import { useState } from "preact/hooks";
import { ApiError, upload, type ImportResult } from "../api";
import { Badge, Card, Command, ErrorBox, Field, PageHeader } from "../components";
import { apiRepo, repoPath, shortDigest } from "../format";
import { t } from "../i18n";
import { useLocation } from "../router";
import { session } from "../session";

export function ImportPage() {
  const { query } = useLocation();
  const [repository, setRepository] = useState(query.get("repository") ?? "");
  const [tag, setTag] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<number | null>(null);
  const [result, setResult] = useState<ImportResult | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const busy = progress !== null;
  return (
    <>
      <PageHeader title={t("import.title")} subtitle={t("import.help")} />
      <Card>
        <form
          class="import-form"
          onSubmit={async (e) => {
            e.preventDefault();
            if (!file) return;
            setError(null);
            setResult(null);
            setProgress(0);
            try {
              const path = `${apiRepo(repository.trim())}/-/import${tag.trim() ? `?tag=${encodeURIComponent(tag.trim())}` : ""}`;
              setResult(await upload<ImportResult>(path, file, setProgress));
            } catch (err) {
              setError(err as ApiError);
            }
            setProgress(null);
          }}
        >
          <div class="form-grid">
            <Field label={t("import.repository")}>
              <input name="repository" value={repository} placeholder="team/app" onInput={(e) => setRepository((e.target as HTMLInputElement).value)} required />
            </Field>
            <Field label={t("import.tag")} hint={t("import.tagHelp")}>
              <input name="tag" value={tag} placeholder="latest" onInput={(e) => setTag((e.target as HTMLInputElement).value)} />
            </Field>
          </div>
          <Field label={t("import.file")}>
            <input name="file" type="file" accept=".tar,.tar.gz,.tgz,application/x-tar,application/gzip" onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)} required />
          </Field>
          <div class="form-actions">
            <button class="btn btn-primary" type="submit" disabled={busy || !file}>
              {t("import.submit")}
            </button>
            {busy && (
              <div class="progress">
                <div class="progress-bar" style={{ width: `${Math.round((progress ?? 0) * 100)}%` }} />
                <span>{progress! < 1 ? t("import.uploading", { percent: Math.round(progress! * 100) }) : t("import.processing")}</span>
              </div>
            )}
          </div>
        </form>
        <ErrorBox error={error} />
      </Card>
      {result && (
        <Card title={t("import.done", { repo: result.repository })}>
          <div class="import-result" data-testid="import-result">
            <Badge kind="info">{result.format}</Badge>
            <table class="table">
              <tbody>
                {result.images.map((image) => (
                  <tr key={image.digest}>
                    <td>
                      <a href={`${repoPath(result.repository)}/-/manifests/${image.digest}`} class="strong">
                        {result.repository}
                        {image.tag ? `:${image.tag}` : `@${shortDigest(image.digest)}`}
                      </a>
                    </td>
                    <td>
                      <code>{shortDigest(image.digest)}</code>
                    </td>
                    <td>
                      <Command text={`docker pull ${session()?.registry ?? ""}/${result.repository}${image.tag ? `:${image.tag}` : `@${image.digest}`}`} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {result.warnings.length > 0 && (
              <div class="alert alert-warn">
                <strong>{t("import.warnings")}:</strong>
                <ul>
                  {result.warnings.map((w) => (
                    <li key={w}>{w}</li>
                  ))}
                </ul>
              </div>
            )}
          </div>
        </Card>
      )}
    </>
  );
}
