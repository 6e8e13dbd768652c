// The GC settings an administrator changes (stored in the database, src/gc/gc-settings.ts) and the note
// on what the grace period held back in a run.
import { useEffect, useState } from "preact/hooks";
import { ApiError, get, put, type GcHeldBack, type GcSettings, type GcSettingsUpdate } from "../api";
import { Badge, Card, ErrorBox, Field, Spinner, toast, useLoad } from "../components";
import { bytes, count, dateTime } from "../format";
import { t } from "../i18n";

export function heldBackVars(held: GcHeldBack): Record<string, string> {
  return {
    grace: held.graceText,
    timeout: held.uploadTimeoutText,
    manifests: count(held.manifests),
    manifestBytes: bytes(held.manifestBytes),
    blobs: count(held.blobs),
    blobBytes: bytes(held.blobBytes),
    uploads: count(held.uploads),
    uploadBytes: bytes(held.uploadBytes),
  };
}

/** Says what the grace period kept this time, so a run that deleted nothing is not a mystery. */
export function HeldBackNote(props: { held: GcHeldBack | null }) {
  const held = props.held;
  if (!held) return null;
  const vars = heldBackVars(held);
  return (
    <div class="alert alert-info" data-testid="gc-held-back">
      {held.manifests || held.blobs ? t("gc.heldBack", vars) : t("gc.nothingHeld", vars)}
      {held.uploads > 0 && <> {t("gc.heldBackUploads", vars)}</>}
    </div>
  );
}

/** Where a run-time setting's value comes from, its configured default, and a reset when set in the UI. */
export function Source(props: { source: "config" | "ui"; defaultText: string; onReset: () => void; busy: boolean; testId: string }) {
  return (
    <p class="muted small" data-testid={`${props.testId}-source`}>
      <Badge kind={props.source === "ui" ? "info" : "neutral"}>{props.source === "ui" ? t("gc.setInUi") : t("gc.fromConfig")}</Badge>{" "}
      {t("gc.default", { value: props.defaultText })}{" "}
      {props.source === "ui" && (
        <button type="button" class="btn btn-small" disabled={props.busy} onClick={props.onReset} data-testid={`${props.testId}-reset`}>
          {t("gc.reset")}
        </button>
      )}
    </p>
  );
}

export function GcSettingsCard() {
  const loaded = useLoad(() => get<GcSettings>("/api/v1/gc/settings"), []);
  const [settings, setSettings] = useState<GcSettings | null>(null);
  const [schedule, setSchedule] = useState("");
  const [grace, setGrace] = useState("");
  const [untagged, setUntagged] = useState(true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const show = (s: GcSettings) => {
    setSettings(s);
    setSchedule(s.schedule.value ?? "");
    setGrace(s.grace.text);
    setUntagged(s.untagged.value);
  };
  useEffect(() => {
    if (loaded.data) show(loaded.data);
  }, [loaded.data]);
  const save = async (update: GcSettingsUpdate) => {
    setBusy(true);
    setError(null);
    try {
      show(await put<GcSettings>("/api/v1/gc/settings", update));
      toast(t("gc.saved"));
    } catch (err) {
      setError(err as ApiError);
    }
    setBusy(false);
  };
  const submit = (e: Event) => {
    e.preventDefault();
    if (!settings) return;
    // Only what the admin changed is stored: an untouched field keeps following the configuration.
    const update: GcSettingsUpdate = {};
    if (schedule.trim() !== (settings.schedule.value ?? "")) update.schedule = schedule.trim();
    if (grace.trim() !== settings.grace.text) update.grace = grace.trim();
    if (untagged !== settings.untagged.value) update.untagged = untagged;
    void save(update);
  };
  return (
    <Card title={t("gc.settings")}>
      <ErrorBox error={loaded.error ?? error} onRetry={loaded.error ? loaded.reload : undefined} />
      {!settings && loaded.loading && <Spinner />}
      {settings && (
        <form onSubmit={submit} data-testid="gc-settings">
          <p class="muted small">{t("gc.settingsHelp")}</p>
          <Field label={t("gc.schedule")} hint={t("gc.scheduleHelp")}>
            <input value={schedule} onInput={(e) => setSchedule(e.currentTarget.value)} placeholder="0 3 * * *" data-testid="gc-schedule" />
          </Field>
          <Source source={settings.schedule.source} defaultText={settings.schedule.default ?? t("gc.never")} busy={busy} onReset={() => save({ schedule: null })} testId="gc-schedule" />
          {settings.nextRun && <p class="muted small">{t("gc.nextRun", { time: dateTime(settings.nextRun) })}</p>}
          <Field label={t("gc.grace")} hint={t("gc.graceHelp")}>
            <input value={grace} onInput={(e) => setGrace(e.currentTarget.value)} data-testid="gc-grace" />
          </Field>
          <Source source={settings.grace.source} defaultText={settings.grace.defaultText} busy={busy} onReset={() => save({ grace: null })} testId="gc-grace" />
          <label class="check">
            <input type="checkbox" checked={untagged} onChange={(e) => setUntagged(e.currentTarget.checked)} data-testid="gc-untagged" /> {t("gc.untagged")}
          </label>
          <Source
            source={settings.untagged.source}
            defaultText={settings.untagged.default ? "✓" : "✗"}
            busy={busy}
            onReset={() => save({ untagged: null })}
            testId="gc-untagged"
          />
          <div>
            <button class="btn btn-primary" type="submit" disabled={busy} data-testid="gc-settings-save">
              {t("gc.save")}
            </button>
          </div>
        </form>
      )}
    </Card>
  );
}
