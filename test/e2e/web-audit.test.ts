// The audit trail in a real headless Chromium against Berth with auth on, images pushed (and a push refused)
// by skopeo: the admin filters the audit log by outcome and sees the refused push, exports the filtered log
// as CSV (a real download, parsed back); a project admin (no site admin) opens their project's audit page
// and sees that project's events only, with the export limited the same way; then the screen in Chinese.
// Screenshots go to test-artifacts/.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { api, login } from "../support/web-client";
import { parseCsv } from "../support/csv";
import { launchBrowser, type Browser } from "./support/browser";
import { tinyImage, writeOciLayout } from "./support/oci-layout";
import { makeTempDir, removeTree } from "./support/process";
import { dockerRef, skopeoCopy } from "./support/skopeo";
import { requireBinaries } from "./support/tools";
import { waitFor } from "../support/wait-for";

jest.setTimeout(180_000);

const PASSWORD = "admin-pass-1";
const USERS = { lead: "lead-pass-1", guest: "guest-pass-1" };
let registry: TestRegistry;
let work: string;
const browsers: Browser[] = [];

beforeAll(async () => {
  requireBinaries("skopeo", "chromium");
  work = await makeTempDir("berth-e2e-web-audit");
  registry = await startTestRegistry({ config: { auth: { enabled: true, adminPassword: PASSWORD } } });
  const layout = await writeOciLayout(path.join(work, "tiny"), "1.0", tinyImage());
  await skopeoCopy(layout.ref, dockerRef(registry.host, "team/app", "1.0"), { destCreds: `admin:${PASSWORD}` });
  await skopeoCopy(layout.ref, dockerRef(registry.host, "other/app", "1.0"), { destCreds: `admin:${PASSWORD}` });
  const admin = await login(registry.url, "admin", PASSWORD);
  for (const [name, password] of Object.entries(USERS)) {
    expect((await api(registry.url, "POST", "/api/v1/users", admin, { username: name, password })).status).toBe(201);
  }
  expect((await api(registry.url, "PUT", "/api/v1/projects/team/members/lead", admin, { role: "admin" })).status).toBe(204);
  expect((await api(registry.url, "PUT", "/api/v1/projects/team/members/guest", admin, { role: "guest" })).status).toBe(204);
  // A guest may pull but not push: skopeo's push is refused (403), which the audit log keeps.
  await expect(skopeoCopy(layout.ref, dockerRef(registry.host, "team/app", "pushed-by-guest"), { destCreds: `guest:${USERS.guest}` })).rejects.toThrow(/denied/i);
}, 180_000);

afterAll(async () => {
  for (const b of browsers) await b.close();
  await registry?.stop();
  if (work) await removeTree(work);
});

/** A browser (in `locale`) signed in and sent on to `path`, once the element with test id `ready` shows. */
async function signedIn(path: string, username: string, password: string, ready: string, locale?: string): Promise<Browser> {
  const browser = await launchBrowser(locale ? { locale } : {});
  browsers.push(browser);
  const { page } = browser;
  await page.goto(`${registry.url}/login`);
  await page.locator("input[name=username]").fill(username);
  await page.locator("input[name=password]").fill(password);
  await page.locator("form button[type=submit]").click();
  await page.getByTestId("logout").waitFor();
  await page.goto(`${registry.url}${path}`);
  await page.getByTestId(ready).waitFor();
  return browser;
}

const outcomes = async (browser: Browser) => browser.page.locator("[data-testid=audit] tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-outcome")));

test("the admin filters by outcome, sees the refused push, and exports the filtered log as CSV", async () => {
  const browser = await signedIn("/audit", "admin", PASSWORD, "audit");
  const { page } = browser;
  expect(new Set(await outcomes(browser)).has("success")).toBe(true);

  await page.getByLabel("Outcome").selectOption("refused");
  await page.getByRole("button", { name: "Apply filters" }).click();
  const table = page.getByTestId("audit");
  await waitFor("only refused events listed", async () => {
    const seen = await outcomes(browser);
    return seen.length > 0 && seen.every((o) => o === "refused");
  });
  const refusedPush = table.locator("tbody tr", { hasText: "guest" }).filter({ hasText: "access denied" }).filter({ hasText: "team/app" });
  await refusedPush.first().waitFor();
  await browser.screenshot("audit-01-refused", true);

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("audit-export").click()]);
  expect(download.suggestedFilename()).toBe("berth-audit.csv");
  const file = path.join(work, "admin-audit.csv");
  await download.saveAs(file);
  const [header, ...rows] = parseCsv(await readFile(file, "utf8"));
  expect(header.slice(0, 6)).toEqual(["id", "time", "actor", "client_address", "action", "outcome"]);
  expect(rows.length).toBeGreaterThan(0);
  expect(rows.every((r) => r[5] === "refused")).toBe(true);
  expect(rows.some((r) => r[2] === "guest" && r[4] === "access.denied" && r[7] === "team/app")).toBe(true);
});

test("a project admin opens their project's audit page and sees that project's events only", async () => {
  // Signed in on the project's page, whose "Audit log" button only the project's admins get.
  const lead = await signedIn("/projects/team", "lead", USERS.lead, "project-audit");
  const { page } = lead;
  await page.getByTestId("project-audit").click();
  await page.waitForURL(/\/projects\/team\/audit$/);
  await page.getByTestId("audit").locator("tbody tr").first().waitFor();
  const projects = await page.locator("[data-testid=audit] tbody tr td:nth-child(4)").allTextContents();
  expect(projects.length).toBeGreaterThan(1);
  expect(new Set(projects)).toEqual(new Set(["team"]));
  // No project filter here: the page is the project's.
  expect(await page.getByLabel("Project").count()).toBe(0);
  await lead.screenshot("audit-02-project-admin", true);

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("audit-export").click()]);
  expect(download.suggestedFilename()).toBe("berth-audit-team.csv");
  const file = path.join(work, "team-audit.csv");
  await download.saveAs(file);
  const rows = parseCsv(await readFile(file, "utf8")).slice(1);
  expect(rows.length).toBe(projects.length);
  expect(rows.every((r) => r[6] === "team")).toBe(true);
  // The site's log is not theirs.
  await page.goto(`${registry.url}/audit`);
  await page.getByRole("heading", { name: "Page not found" }).waitFor();
});

test("the audit log in Chinese: filters, action and outcome badges, export", async () => {
  const browser = await signedIn("/audit", "admin", PASSWORD, "audit", "zh-CN");
  const { page } = browser;
  await page.getByLabel("结果").first().selectOption("refused");
  await page.getByRole("button", { name: "应用筛选" }).click();
  await waitFor("refused events in Chinese", async () => (await page.getByTestId("audit").textContent())?.includes("已拒绝"));
  expect(await page.getByTestId("audit").textContent()).toContain("拒绝访问");
  expect(await page.getByTestId("audit-export").textContent()).toBe("导出 CSV");
  await browser.screenshot("audit-03-zh-CN", true);
});
