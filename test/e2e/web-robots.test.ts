// Robot accounts in the web UI (issue 15, item 4), in a real headless Chromium against Berth with auth on: a
// project admin who is no site admin creates a robot for their project on its page, copies the secret shown
// once (the clipboard holds it, and it logs in), disables the robot (its secret then fails), and sees the
// page in Chinese. Screenshots go to test-artifacts/.
import path from "node:path";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { api, login } from "../support/web-client";
import { basic } from "../support/auth-helpers";
import { launchBrowser, type Browser } from "./support/browser";
import { tinyImage, writeOciLayout } from "./support/oci-layout";
import { makeTempDir, removeTree } from "./support/process";
import { dockerRef, skopeoCopy } from "./support/skopeo";
import { requireBinaries } from "./support/tools";
import { waitFor } from "../support/wait-for";

jest.setTimeout(180_000);

const PASSWORD = "admin-pass-1";
let registry: TestRegistry;
let work: string;
let browser: Browser;

beforeAll(async () => {
  requireBinaries("skopeo", "chromium");
  work = await makeTempDir("berth-e2e-web-robots");
  registry = await startTestRegistry({ config: { auth: { enabled: true, adminPassword: PASSWORD } } });
  const layout = await writeOciLayout(path.join(work, "tiny"), "v1", tinyImage());
  await skopeoCopy(layout.ref, dockerRef(registry.host, "team/app", "v1"), { destCreds: `admin:${PASSWORD}` });
  const admin = await login(registry.url, "admin", PASSWORD);
  for (const [method, route, body] of [
    ["POST", "/api/v1/users", { username: "pam", password: "pam-pass-1" }],
    ["PUT", "/api/v1/projects/team/members/pam", { role: "admin" }],
  ] as const) {
    const res = await api(registry.url, method, route, admin, body);
    expect(res.status).toBeLessThan(300);
  }
  browser = await launchBrowser();
  await browser.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: registry.url });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await registry?.stop();
  if (work) await removeTree(work);
});

/** GET /token as docker login does it: the status. */
async function loginStatus(username: string, secret: string): Promise<number> {
  const res = await fetch(`${registry.url}/token?service=berth&scope=repository:team/app:pull`, { headers: { Authorization: basic(username, secret) } });
  await res.arrayBuffer();
  return res.status;
}

test("a project admin creates a project robot, copies its secret shown once, and disables it; the page in Chinese", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/login`);
  await page.getByLabel("Username").fill("pam");
  await page.getByLabel("Password").fill("pam-pass-1");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("repositories").waitFor();
  // No site administration for a project admin: the all-robots page is not offered.
  expect(await page.locator(".sidebar").textContent()).not.toContain("Robot accounts");

  await page.locator(".sidebar").getByRole("link", { name: "Projects" }).click();
  await page.locator("tr[data-project=team]").getByRole("link", { name: "Members" }).click();
  await page.getByRole("heading", { name: "Members of team" }).waitFor();
  await page.getByTestId("new-project-robot").click();
  const dialog = page.getByRole("dialog");
  await dialog.getByText("robot$team+").waitFor();
  await dialog.locator("input[name=robot-name]").fill("ci");
  await dialog.locator("input[name=robot-description]").fill("pipeline");
  await dialog.locator("input[name=robot-action-push]").check();
  await browser.screenshot("robots-01-new-project-robot");
  await dialog.getByRole("button", { name: "Create" }).click();

  // The secret, once: copied with the button, it is what the clipboard holds, and it logs in.
  const shown = page.getByTestId("robot-secret");
  await shown.waitFor();
  const secret = ((await shown.locator("code").textContent()) ?? "").trim();
  expect(secret.length).toBeGreaterThanOrEqual(32);
  await shown.getByRole("button", { name: "Copy" }).click();
  await shown.getByRole("button", { name: "Copied" }).waitFor();
  // (Runs in the page; the test's own types know no DOM.)
  const clipboard = () => (globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }).navigator.clipboard.readText();
  expect(await page.evaluate(clipboard)).toBe(secret);
  await browser.screenshot("robots-02-secret-shown-once");
  expect(await loginStatus("robot$team+ci", secret)).toBe(200);
  await page.getByRole("dialog").getByRole("button", { name: "Close", exact: true }).last().click();

  const row = page.locator('tr[data-robot="robot$team+ci"]');
  await row.getByText("pipeline").waitFor();
  expect(await row.getByTestId("robot-status").textContent()).toBe("active");
  expect(await row.textContent()).toContain("team: pull, push");
  // Not shown again anywhere on the page.
  expect(await page.content()).not.toContain(secret);

  await row.getByRole("button", { name: "Disable" }).click();
  await page.getByText("robot$team+ci is disabled: its secret and tokens no longer work.").waitFor();
  await waitFor("the robot shown disabled", async () => (await row.getByTestId("robot-status").textContent()) === "disabled");
  expect(await loginStatus("robot$team+ci", secret)).toBe(401);
  await browser.screenshot("robots-03-disabled", true);
  // The toast goes by itself; the Chinese screenshot below shows the table, not it.
  await page.getByText("robot$team+ci is disabled: its secret and tokens no longer work.").waitFor({ state: "detached" });

  await page.getByLabel("Language").selectOption("zh-CN");
  await row.getByRole("button", { name: "启用" }).waitFor();
  expect(await row.getByTestId("robot-status").textContent()).toBe("已禁用");
  await page.getByRole("heading", { name: "机器人账户" }).waitFor();
  await browser.screenshot("robots-04-project-robots-zh", true);
  await page.getByLabel("语言").selectOption("en");
  await row.getByRole("button", { name: "Enable" }).waitFor();
});

test("an admin sees every robot with its project, refreshes one's secret (shown once) and edits its expiry", async () => {
  const admin = await login(registry.url, "admin", PASSWORD);
  const res = await api(registry.url, "POST", "/api/v1/projects/team/robots", admin, { name: "deploy", permissions: [{ project: "team", actions: ["pull"] }] });
  const created = (await res.json()) as { robot: { name: string }; secret: string };
  expect(res.status).toBe(201);
  const second = await launchBrowser();
  try {
    const { page } = second;
    await page.goto(`${registry.url}/login`);
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByTestId("repositories").waitFor();
    await page.locator(".sidebar").getByRole("link", { name: "Robot accounts" }).click();
    const row = page.locator('tr[data-robot="robot$team+deploy"]');
    await row.waitFor();
    expect(await row.locator("td").nth(1).textContent()).toBe("team");

    await row.getByRole("button", { name: "Refresh secret" }).click();
    await page.getByRole("dialog").getByText("The current secret stops working at once").waitFor();
    await page.getByRole("dialog").getByRole("button", { name: "Refresh secret" }).click();
    const shown = page.getByTestId("robot-secret");
    await shown.waitFor();
    const secret = ((await shown.locator("code").textContent()) ?? "").trim();
    expect(secret).not.toBe(created.secret);
    await page.getByRole("heading", { name: "New secret for robot$team+deploy" }).waitFor();
    await second.screenshot("robots-05-refreshed-secret");
    expect(await loginStatus(created.robot.name, created.secret)).toBe(401);
    expect(await loginStatus(created.robot.name, secret)).toBe(200);
    await page.getByRole("dialog").getByRole("button", { name: "Close", exact: true }).last().click();

    // An expiry in the past is refused with the server's words; a future one is kept.
    await row.getByRole("button", { name: "Edit" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.locator("input[name=robot-expires]").fill("2001-02-03");
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.getByRole("alert").getByText(/expiresAt: must be in the future/).waitFor();
    await dialog.locator("input[name=robot-expires]").fill("2999-02-03");
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.waitFor({ state: "detached" });
    await waitFor("the new expiry shown", async () => ((await row.textContent()) ?? "").includes("2999"));
    expect(await loginStatus(created.robot.name, secret)).toBe(200);
    await second.screenshot("robots-06-all-robots", true);
  } finally {
    await second.close();
  }
});
