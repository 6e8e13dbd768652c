import { useState } from "preact/hooks";
import { ApiError } from "../api";
import { LANGS, setLang, t, useLang, type Lang } from "../i18n";
import { navigate } from "../router";
import { signIn } from "../session";

export function LoginPage() {
  const lang = useLang();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <div class="login-page">
      <div class="login-brand">
        <img src="/favicon.svg" alt="" width="44" height="44" />
        <div>
          <div class="login-name">{t("app.name")}</div>
          <div class="login-tag">{t("app.tagline")}</div>
        </div>
      </div>
      <form
        class="login-card"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            await signIn(username, password);
            const next = new URLSearchParams(location.search).get("next");
            navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/repositories", true);
          } catch (err) {
            setError(err instanceof ApiError ? err.message : String(err));
            setBusy(false);
          }
        }}
      >
        <h1>{t("auth.title")}</h1>
        <p class="muted">{t("auth.subtitle")}</p>
        {error && (
          <div class="alert alert-error" role="alert">
            <strong>{t("auth.failed")}:</strong> {error}
          </div>
        )}
        <label class="field">
          <span class="field-label">{t("auth.username")}</span>
          <input name="username" autoComplete="username" value={username} onInput={(e) => setUsername((e.target as HTMLInputElement).value)} required autoFocus />
        </label>
        <label class="field">
          <span class="field-label">{t("auth.password")}</span>
          <input name="password" type="password" autoComplete="current-password" value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} required />
        </label>
        <button class="btn btn-primary btn-block" type="submit" disabled={busy}>
          {t("auth.login")}
        </button>
      </form>
      <div class="login-foot">
        <select value={lang} aria-label={t("common.language")} onChange={(e) => setLang((e.target as HTMLSelectElement).value as Lang)}>
          {LANGS.map((l) => (
            <option key={l.code} value={l.code}>
              {l.label}
            </option>
          ))}
        </select>
      </div>
    </div>
  );
}
