// The Settings page for administrators: project creation, default visibility and token lifetime (stored in
// the database over the configured values, src/auth/auth-settings.ts), the GC settings, and the effective
// configuration, read-only, with its sources and secrets masked by the server.
import { useEffect, useState } from "preact/hooks";
import { ApiError, get, put } from "../api";
import { Badge, Card, ErrorBox, Field, PageHeader, Spinner, toast, useLoad } from "../components";
import { t, type Key } from "../i18n";
import { GcSettingsCard, Source } from "./gc-settings";

interface SettingView<T> {
  value: T;
  default: T;
  source: "config" | "ui";
  updatedAt: string | null;
  updatedBy: string | null;
}

interface AccessSettings {
  projectCreation: SettingView<"everyone" | "admins">;
  defaultVisibility: SettingView<"private" | "public">;
  tokenTtlSeconds: SettingView<number>;
}

type AccessUpdate = { [K in keyof AccessSettings]?: AccessSettings[K]["value"] | null };

interface EffectiveEntry {
  key: string;
  value: unknown;
  secret: boolean;
  source: "yaml" | "env" | "default" | "ui";
}

export function SettingsPage() {
  return (
    <>
      <PageHeader title={t("settings.title")} subtitle={t("settings.subtitle")} />
      <div class="grid-2">
        <AccessSettingsCard />
        <GcSettingsCard />
      </div>
      <EffectiveConfigCard />
    </>
  );
}

const FIELD_NAMES: Record<keyof AccessSettings, Key> = {
  projectCreation: "settings.projectCreation",
  defaultVisibility: "settings.defaultVisibility",
  tokenTtlSeconds: "settings.tokenTtl",
};

function AccessSettingsCard() {
  const loaded = useLoad(() => get<AccessSettings>("/api/v1/settings"), []);
  const [settings, setSettings] = useState<AccessSettings | null>(null);
  const [creation, setCreation] = useState<"everyone" | "admins">("everyone");
  const [visibility, setVisibility] = useState<"private" | "public">("private");
  const [ttl, setTtl] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const show = (s: AccessSettings) => {
    setSettings(s);
    setCreation(s.projectCreation.value);
    setVisibility(s.defaultVisibility.value);
    setTtl(String(s.tokenTtlSeconds.value));
  };
  useEffect(() => {
    if (loaded.data) show(loaded.data);
  }, [loaded.data]);
  const save = async (update: AccessUpdate, done: string) => {
    setBusy(true);
    setError(null);
    try {
      show(await put<AccessSettings>("/api/v1/settings", update));
      toast(done);
    } catch (err) {
      setError(err as ApiError);
    }
    setBusy(false);
  };
  const submit = (e: Event) => {
    e.preventDefault();
    if (!settings) return;
    // Only what the admin changed is stored: an untouched field keeps following the configuration. The
    // lifetime goes as typed (a number when it is one), so the server names what is wrong with it.
    const update: AccessUpdate = {};
    if (creation !== settings.projectCreation.value) update.projectCreation = creation;
    if (visibility !== settings.defaultVisibility.value) update.defaultVisibility = visibility;
    if (ttl.trim() !== String(settings.tokenTtlSeconds.value)) update.tokenTtlSeconds = (/^\d+$/.test(ttl.trim()) ? Number(ttl.trim()) : ttl) as number;
    const changed = (Object.keys(update) as Array<keyof AccessSettings>).map((f) => `${t(FIELD_NAMES[f])} → ${describe(f, update[f])}`);
    if (!changed.length) return toast(t("settings.nothingChanged"));
    void save(update, t("settings.saved", { changes: changed.join("; ") }));
  };
  const reset = (field: keyof AccessSettings) => save({ [field]: null }, t("settings.reset", { name: t(FIELD_NAMES[field]) }));
  return (
    <Card title={t("settings.access")}>
      <ErrorBox error={loaded.error ?? error} onRetry={loaded.error ? loaded.reload : undefined} />
      {!settings && loaded.loading && <Spinner />}
      {settings && (
        <form onSubmit={submit} data-testid="access-settings">
          <Field label={t("settings.projectCreation")} hint={t("settings.projectCreationHelp")}>
            <select value={creation} onChange={(e) => setCreation(e.currentTarget.value as typeof creation)} data-testid="setting-project-creation">
              <option value="everyone">{t("settings.projectCreation.everyone")}</option>
              <option value="admins">{t("settings.projectCreation.admins")}</option>
            </select>
          </Field>
          <Source source={settings.projectCreation.source} defaultText={describe("projectCreation", settings.projectCreation.default)} busy={busy} onReset={() => reset("projectCreation")} testId="setting-project-creation" />
          <Field label={t("settings.defaultVisibility")} hint={t("settings.defaultVisibilityHelp")}>
            <select value={visibility} onChange={(e) => setVisibility(e.currentTarget.value as typeof visibility)} data-testid="setting-default-visibility">
              <option value="private">{t("settings.visibility.private")}</option>
              <option value="public">{t("settings.visibility.public")}</option>
            </select>
          </Field>
          <Source source={settings.defaultVisibility.source} defaultText={describe("defaultVisibility", settings.defaultVisibility.default)} busy={busy} onReset={() => reset("defaultVisibility")} testId="setting-default-visibility" />
          <Field label={t("settings.tokenTtl")} hint={t("settings.tokenTtlHelp")}>
            <input value={ttl} inputMode="numeric" onInput={(e) => setTtl(e.currentTarget.value)} data-testid="setting-token-ttl" />
          </Field>
          <Source source={settings.tokenTtlSeconds.source} defaultText={String(settings.tokenTtlSeconds.default)} busy={busy} onReset={() => reset("tokenTtlSeconds")} testId="setting-token-ttl" />
          <div>
            <button class="btn btn-primary" type="submit" disabled={busy} data-testid="access-settings-save">
              {t("settings.save")}
            </button>
          </div>
        </form>
      )}
    </Card>
  );
}

/** A setting's value in words, in the user's language. */
function describe(field: keyof AccessSettings, value: unknown): string {
  if (field === "projectCreation") return t(`settings.projectCreation.${value as "everyone" | "admins"}`);
  if (field === "defaultVisibility") return t(`settings.visibility.${value as "private" | "public"}`);
  return String(value);
}

const SOURCE_KIND = { yaml: "info", env: "warn", default: "neutral", ui: "ok" } as const;

function EffectiveConfigCard() {
  const loaded = useLoad(() => get<{ entries: EffectiveEntry[] }>("/api/v1/settings/effective-config"), []);
  const [filter, setFilter] = useState("");
  const entries = (loaded.data?.entries ?? []).filter((e) => e.key.toLowerCase().includes(filter.trim().toLowerCase()));
  return (
    <Card title={t("settings.effective")} flush>
      <div class="settings-pad">
        <p class="muted small">{t("settings.effectiveHelp")}</p>
        <input type="search" value={filter} placeholder={t("settings.filter")} aria-label={t("settings.filter")} onInput={(e) => setFilter(e.currentTarget.value)} data-testid="effective-filter" />
      </div>
      <ErrorBox error={loaded.error} onRetry={loaded.reload} />
      {!loaded.data && loaded.loading && <Spinner />}
      {loaded.data && (
        <table class="table" data-testid="effective-config">
          <thead>
            <tr>
              <th>{t("settings.key")}</th>
              <th>{t("settings.value")}</th>
              <th>{t("settings.source")}</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.key} data-key={e.key}>
                <td>
                  <code>{e.key}</code>
                </td>
                <td class="mono" data-column="value">
                  {e.value === null ? <span class="muted">{t("settings.unset")}</span> : typeof e.value === "string" ? e.value : JSON.stringify(e.value)}
                  {e.secret && e.value !== null && (
                    <>
                      {" "}
                      <Badge kind="warn">{t("settings.secret")}</Badge>
                    </>
                  )}
                </td>
                <td data-column="source">
                  <Badge kind={SOURCE_KIND[e.source]}>{t(`settings.source.${e.source}`)}</Badge>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}
