// The Settings page and the safety confirmations (issue 15, items 7 and 8) in a real headless Chromium,
// against Berth with auth on: an admin changes the default visibility and the token lifetime (and a bad
// lifetime is refused with the server's words), reads the effective configuration with a secret masked,
// makes a project public through the confirmation (Escape cancels first, focus goes back), deletes a
// project that holds repositories after reading what it deletes, changes a member's role and removes a
// member, and reads the Settings page in Chinese. Screenshots go to test-artifacts/.
import jwt from "jsonwebtoken";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { api, login, type Session } from "../support/web-client";
import { basic, getToken, pushImageAs, type TokenBody } from "../support/auth-helpers";
import { launchBrowser, type Browser } from "./support/browser";
import { requireBinaries } from "./support/tools";
import { waitFor } from "../support/wait-for";

jest.setTimeout(180_000);

const PASSWORD = "admin-pass-1";
const ADMIN = basic("admin", PASSWORD);
const METRICS_TOKEN = "metrics-token-that-must-never-show";
let registry: TestRegistry;
let browser: Browser;
let admin: Session;

beforeAll(async () => {
  requireBinaries("chromium");
  registry = await startTestRegistry({ config: { auth: { enabled: true, adminPassword: PASSWORD }, metrics: { token: METRICS_TOKEN } } });
  await pushImageAs(registry.url, "openme/app", "v1", ADMIN);
  await pushImageAs(registry.url, "doomed/one", "v1", ADMIN);
  await pushImageAs(registry.url, "doomed/two", "v1", ADMIN);
  admin = await login(registry.url, "admin", PASSWORD);
  for (const username of ["alice", "bob"]) {
    expect((await api(registry.url, "POST", "/api/v1/users", admin, { username, password: `${username}-pass-1` })).status).toBe(201);
    expect((await api(registry.url, "PUT", `/api/v1/projects/openme/members/${username}`, admin, { role: "developer" })).status).toBe(204);
  }
  browser = await launchBrowser();
  const eq = admin.cookie.indexOf("=");
  await browser.context.addCookies([{ name: admin.cookie.slice(0, eq), value: admin.cookie.slice(eq + 1), url: registry.url }]);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await registry?.stop();
});

async function settings(): Promise<Record<string, { value: unknown; source: string }>> {
  return (await (await api(registry.url, "GET", "/api/v1/settings", admin)).json()) as never;
}

test("change the default visibility and the token lifetime on the Settings page; a bad lifetime is refused", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/repositories`);
  await page.locator(".sidebar").getByRole("link", { name: "Settings" }).click();
  await page.getByRole("heading", { name: "Settings", exact: true }).waitFor();
  const form = page.getByTestId("access-settings");
  await form.waitFor();
  expect(await page.getByTestId("setting-token-ttl-source").textContent()).toContain("from config");

  await page.getByTestId("setting-token-ttl").fill("5");
  await page.getByTestId("access-settings-save").click();
  // The server's words, naming the field.
  await page.getByRole("alert").getByText(/tokenTtlSeconds/).waitFor();
  expect((await settings()).tokenTtlSeconds.source).toBe("config");

  await page.getByTestId("setting-default-visibility").selectOption("public");
  await page.getByTestId("setting-token-ttl").fill("900");
  await page.getByTestId("access-settings-save").click();
  await page.getByRole("status").getByText("Settings saved: Visibility of new projects → Public; Registry token lifetime (seconds) → 900").waitFor();
  await page.getByTestId("setting-token-ttl-source").getByText("set in UI").waitFor();
  await page.getByTestId("setting-default-visibility-source").getByText("set in UI").waitFor();
  await browser.screenshot("settings-01-saved", true);

  const now = await settings();
  expect(now.defaultVisibility).toMatchObject({ value: "public", source: "ui" });
  expect(now.tokenTtlSeconds).toMatchObject({ value: 900, source: "ui" });
  // In force: a token now lives 900 s, and a project created by a push is public.
  const body = (await (await getToken(registry.url, { creds: { username: "alice", password: "alice-pass-1" }, scopes: ["repository:openme/app:pull"] })).json()) as TokenBody;
  const claims = jwt.decode(body.token) as { iat: number; exp: number };
  expect([body.expires_in, claims.exp - claims.iat]).toEqual([900, 900]);
  await pushImageAs(registry.url, "alicefresh/app", "v1", basic("alice", "alice-pass-1"));
  const mine = (await (await api(registry.url, "GET", "/api/v1/projects", admin)).json()) as Array<{ name: string; public: boolean }>;
  expect(mine.find((p) => p.name === "alicefresh")?.public).toBe(true);

  // The New project dialog starts at the default visibility.
  await page.goto(`${registry.url}/projects`);
  await page.getByRole("button", { name: "New project" }).click();
  const newProject = page.getByRole("dialog", { name: "New project" });
  await waitFor("the Public box ticked by default", () => newProject.getByRole("checkbox").isChecked());
  await page.keyboard.press("Escape");
  await newProject.waitFor({ state: "detached" });

  // The effective configuration: the UI value shown as such, the metrics token masked.
  await page.goto(`${registry.url}/settings`);
  const effective = page.getByTestId("effective-config");
  await effective.waitFor();
  await effective.locator('tr[data-key="auth.tokenTtlSeconds"]').getByText("set in UI").waitFor();
  expect(await effective.locator('tr[data-key="auth.tokenTtlSeconds"] td[data-column="value"]').textContent()).toBe("900");
  expect(await effective.locator('tr[data-key="metrics.token"] td[data-column="value"]').textContent()).toContain("********");
  expect(await page.content()).not.toContain(METRICS_TOKEN);
  await page.getByTestId("effective-filter").fill("metrics");
  await waitFor("only metrics keys listed", async () => (await effective.locator("tbody tr").count()) === 2);
  await browser.screenshot("settings-02-effective-config", true);

  // Reset: back to the configured value.
  await page.getByTestId("setting-token-ttl-reset").click();
  await page.getByTestId("setting-token-ttl-source").getByText("from config").waitFor();
  expect((await settings()).tokenTtlSeconds).toMatchObject({ value: 300, source: "config" });
});

test("making a project public asks first, saying what it means; Escape cancels and gives focus back", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/projects`);
  const row = page.locator("tr[data-project=openme]");
  const toggle = row.getByRole("button", { name: "Make public" });
  await toggle.click();
  const dialog = page.getByRole("dialog", { name: "Make openme public?" });
  await dialog.getByText("Anyone who can reach this registry, without signing in, will be able to pull every repository in the project openme (1 now, and any pushed later).").waitFor();
  // Focus is in the dialog, on the harmless choice.
  expect(await page.locator("[role=dialog] button:focus").textContent()).toBe("Cancel");
  await browser.screenshot("settings-03-make-public-confirm");
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "detached" });
  expect(await page.locator("tr[data-project=openme] button:focus").textContent()).toBe("Make public");
  expect(((await (await api(registry.url, "GET", "/api/v1/projects", admin)).json()) as Array<{ name: string; public: boolean }>).find((p) => p.name === "openme")?.public).toBe(false);

  await toggle.click();
  await dialog.getByRole("button", { name: "Make openme public" }).click();
  await page.getByRole("status").getByText("openme is now Public").waitFor();
  await row.getByRole("button", { name: "Make private" }).waitFor();
  // What the dialog said: an anonymous client pulls.
  const anonymous = (await (await getToken(registry.url, { scopes: ["repository:openme/app:pull"] })).json()) as TokenBody;
  expect((await fetch(`${registry.url}/v2/openme/app/manifests/v1`, { method: "HEAD", headers: { Authorization: `Bearer ${anonymous.token}` } })).status).toBe(200);
});

test("deleting a project with repositories says it deletes them and GC reclaims the bytes, then does", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/projects`);
  const row = page.locator("tr[data-project=doomed]");
  await row.getByRole("button", { name: "Delete" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByText(/The project doomed holds 2 repositories\. Deleting it deletes all of them, with every tag and manifest, for good; the next garbage collection reclaims their storage\./).waitFor();
  await browser.screenshot("settings-04-delete-project");
  await dialog.getByRole("button", { name: "Delete the project and its 2 repositories" }).click();
  await row.waitFor({ state: "detached" });
  const left = (await (await api(registry.url, "GET", "/api/v1/repositories?q=doomed", admin)).json()) as { items: unknown[] };
  expect(left.items).toEqual([]);
});

test("a role change is confirmed by a status line; removing a member asks first", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/projects/openme`);
  const bobRow = page.locator("tr", { hasText: "bob" });
  await bobRow.getByLabel("Role").selectOption("maintainer");
  await page.getByRole("status").getByText("bob's role in openme changed from Developer (pull, push) to Maintainer (+ delete)").waitFor();
  const members = async () => (await (await api(registry.url, "GET", "/api/v1/projects/openme/members", admin)).json()) as Array<{ username: string; role: string }>;
  expect(await members()).toContainEqual({ username: "bob", role: "maintainer" });

  await bobRow.getByRole("button", { name: "Remove" }).click();
  const dialog = page.getByRole("dialog", { name: "Remove bob from openme?" });
  await dialog.getByText("bob loses the role Maintainer (+ delete) in openme", { exact: false }).waitFor();
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await dialog.waitFor({ state: "detached" });
  expect((await members()).map((m) => m.username)).toContain("bob");
  await bobRow.getByRole("button", { name: "Remove" }).click();
  await dialog.getByRole("button", { name: "Remove bob" }).click();
  await page.getByRole("status").getByText("bob removed from openme").waitFor();
  await bobRow.waitFor({ state: "detached" });
  expect((await members()).map((m) => m.username)).not.toContain("bob");
});

test("the Settings page in Chinese", async () => {
  const { page } = browser;
  await api(registry.url, "PUT", "/api/v1/settings", admin, { projectCreation: "admins" });
  await page.goto(`${registry.url}/settings`);
  await page.getByTestId("access-settings").waitFor();
  await page.getByLabel("Language").selectOption("zh-CN");
  await page.getByRole("heading", { name: "设置", exact: true }).waitFor();
  await page.getByRole("heading", { name: "生效配置" }).waitFor();
  expect(await page.getByTestId("setting-project-creation-source").textContent()).toContain("在界面中设置");
  expect(await page.getByTestId("setting-project-creation").inputValue()).toBe("admins");
  await page.getByTestId("effective-config").locator('tr[data-key="auth.projectCreation"]').getByText("在界面中设置").waitFor();
  await browser.screenshot("settings-05-zh", true);
  await page.getByLabel("语言").selectOption("en");
  await page.getByRole("heading", { name: "Settings", exact: true }).waitFor();
});
