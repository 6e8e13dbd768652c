import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "./styles.css";
import { onUnauthorized } from "./api";
import { Icon, Spinner, Toasts } from "./components";
import { LANGS, setLang, t, useLang, type Key, type Lang } from "./i18n";
import { installLinkInterceptor, navigate, useLocation } from "./router";
import { loadSession, sessionExpired, signOut, useSession } from "./session";
import { LoginPage } from "./pages/login";
import { RepositoriesPage } from "./pages/repositories";
import { RepositoryPage } from "./pages/repository";
import { ImagePage } from "./pages/image";
import { ProjectsPage, MembersPage } from "./pages/projects";
import { RulesPage } from "./pages/rules";
import { WebhooksPage } from "./pages/webhooks";
import { UsersPage } from "./pages/users";
import { RobotsPage } from "./pages/robots";
import { AuditPage } from "./pages/audit";
import { MirrorPage } from "./pages/mirror";
import { StoragePage } from "./pages/storage";
import { ImportPage } from "./pages/import";
import { SettingsPage } from "./pages/settings";

function App() {
  useLang();
  const session = useSession();
  const { path, query } = useLocation();
  const [failed, setFailed] = useState<string | null>(null);

  useEffect(() => {
    loadSession().catch((err: Error) => setFailed(err.message));
    return onUnauthorized(sessionExpired);
  }, []);

  if (failed) return <div class="boot-error">{failed}</div>;
  if (!session) return <Spinner />;
  const signedIn = !session.authEnabled || !!session.user;
  if (!signedIn || path === "/login") {
    if (signedIn) {
      navigate(query.get("next") || "/repositories", true);
      return null;
    }
    return <LoginPage />;
  }
  return <Shell path={path} />;
}

function Shell(props: { path: string }) {
  const session = useSession()!;
  const admin = !!session.user?.isAdmin;
  const lang = useLang();
  const items: Array<{ href: string; icon: Parameters<typeof Icon>[0]["name"]; label: Key; admin?: boolean }> = [
    { href: "/repositories", icon: "repo", label: "nav.repositories" },
    { href: "/import", icon: "import", label: "nav.import" },
    { href: "/projects", icon: "project", label: "nav.projects" },
    { href: "/users", icon: "user", label: "nav.users", admin: true },
    { href: "/robots", icon: "robot", label: "nav.robots", admin: true },
    { href: "/audit", icon: "audit", label: "nav.audit", admin: true },
    { href: "/mirror", icon: "mirror", label: "nav.mirror", admin: true },
    { href: "/storage", icon: "storage", label: "nav.storage", admin: true },
    { href: "/settings", icon: "settings", label: "nav.settings", admin: true },
  ];
  const link = (item: (typeof items)[number]) => (
    <a key={item.href} href={item.href} class={`nav-link ${props.path.startsWith(item.href) ? "active" : ""}`}>
      <Icon name={item.icon} />
      <span>{t(item.label)}</span>
    </a>
  );
  return (
    <div class="shell">
      <aside class="sidebar">
        <a class="brand" href="/repositories">
          <img src="/favicon.svg" alt="" width="28" height="28" />
          <span>
            <strong>{t("app.name")}</strong>
            <small>{t("app.tagline")}</small>
          </span>
        </a>
        <nav>
          <div class="nav-section">{t("nav.section.registry")}</div>
          {items.filter((i) => !i.admin).map(link)}
          {admin && <div class="nav-section">{t("nav.section.admin")}</div>}
          {admin && items.filter((i) => i.admin).map(link)}
        </nav>
        <div class="sidebar-foot">
          <code class="registry-host" title="registry">
            {session.registry}
          </code>
        </div>
      </aside>
      <div class="main">
        <div class="topbar">
          <div class="topbar-spacer" />
          <label class="lang-switch">
            <span class="sr-only">{t("common.language")}</span>
            <select value={lang} onChange={(e) => setLang((e.target as HTMLSelectElement).value as Lang)} aria-label={t("common.language")}>
              {LANGS.map((l) => (
                <option value={l.code} key={l.code}>
                  {l.label}
                </option>
              ))}
            </select>
          </label>
          {session.authEnabled ? (
            <div class="user-menu">
              <span class="avatar">{session.user!.name.slice(0, 1).toUpperCase()}</span>
              <span class="user-name">
                {session.user!.name}
                {admin && <small>{t("auth.admin")}</small>}
              </span>
              <button
                class="btn btn-small btn-ghost"
                data-testid="logout"
                onClick={async () => {
                  await signOut();
                  navigate("/login");
                }}
              >
                <Icon name="logout" /> {t("auth.logout")}
              </button>
            </div>
          ) : (
            <span class="badge badge-warn">{t("auth.open")}</span>
          )}
        </div>
        <main class="content">
          <Route path={props.path} admin={admin} />
        </main>
      </div>
      <Toasts />
    </div>
  );
}

function Route(props: { path: string; admin: boolean }) {
  const p = props.path;
  let m: RegExpExecArray | null;
  if (p === "/" || p === "") {
    navigate("/repositories", true);
    return null;
  }
  if (p === "/repositories") return <RepositoriesPage />;
  if ((m = /^\/repositories\/(.+)\/-\/manifests\/([^/]+)$/.exec(p))) return <ImagePage repository={m[1]} reference={decodeURIComponent(m[2])} />;
  if ((m = /^\/repositories\/(.+?)\/?$/.exec(p))) return <RepositoryPage name={m[1]} />;
  if (p === "/import") return <ImportPage />;
  // Project pages are for every member: the API decides what each may see and change.
  if (p === "/projects") return <ProjectsPage />;
  if ((m = /^\/projects\/([^/]+)$/.exec(p))) return <MembersPage project={m[1]} />;
  if ((m = /^\/projects\/([^/]+)\/rules$/.exec(p))) return <RulesPage project={m[1]} />;
  if ((m = /^\/projects\/([^/]+)\/webhooks$/.exec(p))) return <WebhooksPage project={m[1]} />;
  if ((m = /^\/projects\/([^/]+)\/audit$/.exec(p))) return <AuditPage project={m[1]} />;
  if (props.admin) {
    if (p === "/users") return <UsersPage />;
    if (p === "/robots") return <RobotsPage />;
    if (p === "/audit") return <AuditPage />;
    if (p === "/mirror") return <MirrorPage />;
    if (p === "/storage") return <StoragePage />;
    if (p === "/settings") return <SettingsPage />;
  }
  return (
    <div class="empty empty-page">
      <h1>{t("error.notFound")}</h1>
      <a href="/repositories">{t("nav.repositories")}</a>
    </div>
  );
}

installLinkInterceptor();
render(<App />, document.getElementById("app")!);
