import { useState } from "preact/hooks";
import type { ImageDetail } from "../api";
import { Field, Icon, Modal } from "../components";
import { apiRepo, platform } from "../format";
import { t } from "../i18n";

const ALL = "all";

/**
 * Export of an image as a tar archive: for an index, one of its stored platforms or all of them (the
 * index as pushed, in an OCI layout); then the format. The download is a plain link, so the browser
 * streams the archive to disk itself.
 */
export function ExportDialog(props: { repository: string; image: ImageDetail; onClose: () => void }) {
  const { repository, image } = props;
  const platforms = image.kind === "index" ? image.children.filter((c) => c.stored && !c.attestation && c.platform).map((c) => platform(c.platform)) : [];
  const [chosen, setChosen] = useState(platforms.includes("linux/amd64") ? "linux/amd64" : (platforms[0] ?? ALL));
  const [format, setFormat] = useState<"docker" | "oci">("docker");
  const ref = image.tags[0] ?? image.digest;
  const query = new URLSearchParams();
  if (image.kind === "index") query.set("platform", chosen);
  if (format !== "docker" && chosen !== ALL) query.set("format", format);
  const qs = query.toString();
  const href = `${apiRepo(repository)}/-/export/${ref}${qs ? `?${qs}` : ""}`;
  return (
    <Modal
      title={t("export.title", { ref: `${repository}:${ref}` })}
      onClose={props.onClose}
      footer={
        <>
          <button class="btn" onClick={props.onClose}>
            {t("common.cancel")}
          </button>
          <a class="btn btn-primary" href={href} download data-testid="export-download" onClick={props.onClose}>
            <Icon name="download" /> {t("export.download")}
          </a>
        </>
      }
    >
      <p class="muted">{t("export.help")}</p>
      {image.kind === "index" && (
        <Field label={t("export.platform")} hint={chosen === ALL ? t("export.allHelp") : undefined}>
          <select data-testid="export-platform" value={chosen} onChange={(e) => setChosen((e.target as HTMLSelectElement).value)}>
            {platforms.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
            <option value={ALL}>{t("export.allPlatforms")}</option>
          </select>
        </Field>
      )}
      {chosen !== ALL || image.kind !== "index" ? (
        <Field label={t("export.format")}>
          <select data-testid="export-format" value={format} onChange={(e) => setFormat((e.target as HTMLSelectElement).value as "docker" | "oci")}>
            <option value="docker">{t("export.format.docker")}</option>
            <option value="oci">{t("export.format.oci")}</option>
          </select>
        </Field>
      ) : null}
    </Modal>
  );
}
