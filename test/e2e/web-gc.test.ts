// GC that explains itself, in a real headless Chromium against Berth with auth on and images pushed by
// skopeo: right after a tag is deleted, a dry run says what the 1 h grace period held back; the admin sets
// the grace to 0 in the UI (stored in the database, shown as "set in UI"; a bad value is refused naming the
// field), runs GC, sees the list titled for what was deleted, and downloads the run's log from the history;
// then the same screen in Chinese, and a reset to the configured default. Screenshots go to test-artifacts/.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { api, login } from "../support/web-client";
import { launchBrowser, type Browser } from "./support/browser";
import { writeOciLayout, type ImageSpec } from "./support/oci-layout";
import { makeTempDir, removeTree } from "./support/process";
import { dockerRef, skopeoCopy } from "./support/skopeo";
import { requireBinaries } from "./support/tools";
import { waitFor } from "../support/wait-for";

jest.setTimeout(180_000);

const PASSWORD = "admin-pass-1";
const CREDS = `admin:${PASSWORD}`;
let registry: TestRegistry;
let browser: Browser;
let work: string;
/** The manifest the deleted tag named: garbage, but younger than the grace period. */
let untagged: string;

/** A small image of its own per tag: deleting one tag leaves its manifest, config and layer unreferenced. */
const imageNamed = (tag: string): ImageSpec => ({
  layers: [{ comment: `web-gc ${tag}`, entries: [{ type: "file", path: "app.bin", content: { kind: "random", size: 4096, seed: `web-gc-${tag}` } }] }],
  config: { Cmd: ["/app.bin"], Labels: { "org.berth.test": `web-gc-${tag}` } },
});

beforeAll(async () => {
  requireBinaries("skopeo", "chromium");
  work = await makeTempDir("berth-e2e-web-gc");
  registry = await startTestRegistry({ config: { auth: { enabled: true, adminPassword: PASSWORD } } });
  for (const tag of ["1.0", "2.0"]) {
    const layout = await writeOciLayout(path.join(work, tag), tag, imageNamed(tag));
    await skopeoCopy(layout.ref, dockerRef(registry.host, "team/app", tag), { destCreds: CREDS });
  }
  const [row] = await registry.deps.database.query<{ digest: string }>(
    `SELECT m.digest FROM tag t JOIN manifest m ON m.id = t.manifest_id WHERE t.name = '1.0'`,
  );
  untagged = row.digest;
  const admin = await login(registry.url, "admin", PASSWORD);
  const res = await api(registry.url, "DELETE", "/api/v1/repositories/team/app/-/tags/1.0", admin);
  expect(res.status).toBe(204);
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await registry?.stop();
  if (work) await removeTree(work);
});

test("a dry run right after deleting a tag says what the grace period held back", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/storage`);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("link", { name: "Storage & GC" }).click();
  await page.getByTestId("gc-settings").waitFor();
  expect(await page.getByTestId("gc-grace").inputValue()).toBe("1h");
  expect(await page.getByTestId("gc-grace-source").textContent()).toContain("from config");

  await page.getByTestId("gc-dry-run").click();
  const held = page.getByTestId("gc-held-back");
  await held.waitFor();
  const text = await held.textContent();
  expect(text).toContain("Held back by the grace period (1h): 1 manifests");
  expect(text).toMatch(/and [1-9]\d* blobs/);
  // The history lists the dry run with its grace and what was held back.
  const history = page.locator("[data-testid^=gc-run-]").first();
  await waitFor("the dry run in the history", async () => (await history.textContent())?.includes("1h"));
  await browser.screenshot("gc-01-dry-run-held-back", true);
});

test("grace set to 0 in the UI is stored; a bad value is refused naming the field", async () => {
  const { page } = browser;
  await page.getByTestId("gc-grace").fill("banana");
  await page.getByTestId("gc-settings-save").click();
  await page.getByRole("alert").getByText(/grace: invalid duration/).waitFor();
  expect(await registry.deps.database.query(`SELECT key FROM setting`)).toEqual([]);

  await page.getByTestId("gc-grace").fill("0");
  await page.getByTestId("gc-settings-save").click();
  await waitFor("the grace shown as set in the UI", async () => (await page.getByTestId("gc-grace-source").textContent())?.includes("set in UI"));
  expect(await page.getByTestId("gc-grace-source").textContent()).toContain("default: 1h");
  expect(await registry.deps.database.query(`SELECT key, value, updated_by FROM setting`)).toEqual([{ key: "gc.grace", value: 0, updated_by: "admin" }]);
  expect(registry.deps.gc.settings.grace).toBe(0);
  await browser.screenshot("gc-02-settings-grace-0", true);
});

test("run GC: the list is titled for what was deleted, and the run's log downloads from the history", async () => {
  const { page } = browser;
  await page.getByRole("button", { name: "Run GC" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Run GC" }).click();
  const title = page.getByTestId("gc-items-title");
  await title.waitFor();
  expect(await title.textContent()).toContain("What was deleted");
  expect(await page.getByTestId("gc-held-back").textContent()).toContain("Nothing held back by the grace period (0)");

  const log = page.getByTestId("gc-log").first();
  await log.waitFor();
  const [download] = await Promise.all([page.waitForEvent("download"), log.click()]);
  expect(download.suggestedFilename()).toMatch(/^berth-gc-run-\d+\.csv$/);
  const file = path.join(work, download.suggestedFilename());
  await download.saveAs(file);
  const lines = (await readFile(file, "utf8")).trim().split("\r\n");
  expect(lines[0]).toBe("kind,repository,digest,tag,bytes");
  expect(lines.find((l) => l.startsWith(`manifest,team/app,${untagged},`))).toBeDefined();
  expect(lines.some((l) => l.startsWith("blob,,sha256:"))).toBe(true);

  // The dry run before keeps its figures in the history: its row shows the held-back image.
  const rows = page.locator("[data-testid^=gc-run-]");
  expect(await rows.count()).toBeGreaterThanOrEqual(2);
  expect(await rows.nth(1).textContent()).toMatch(/1h[1-9]\d* \(/);
  await browser.screenshot("gc-03-run-and-log", true);
});

test("the same screen in Chinese; reset to the configured default", async () => {
  const { page } = browser;
  await page.getByLabel("Language").selectOption("zh-CN");
  await page.getByRole("heading", { name: "垃圾回收设置" }).waitFor();
  expect(await page.getByTestId("gc-grace-source").textContent()).toContain("在界面中设置");
  await page.getByTestId("gc-dry-run").click();
  await waitFor("the held-back note in Chinese", async () => (await page.getByTestId("gc-held-back").textContent())?.includes("没有因保护期（0）而保留的内容"));
  await browser.screenshot("gc-04-zh", true);

  await page.getByTestId("gc-grace-reset").click();
  await waitFor("the grace back from the configuration", async () => (await page.getByTestId("gc-grace-source").textContent())?.includes("来自配置"));
  expect(await page.getByTestId("gc-grace").inputValue()).toBe("1h");
  expect(await registry.deps.database.query(`SELECT key FROM setting`)).toEqual([]);
  await page.getByLabel("语言").selectOption("en");
  await page.getByRole("heading", { name: "GC settings" }).waitFor();
});
