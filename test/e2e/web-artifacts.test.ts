// The repository page's Artifacts view end to end, in a real headless Chromium against Berth with auth on and
// images pushed by skopeo: a tag moved by a second push leaves an untagged manifest that the "Untagged"
// filter shows and the list deletes; deleting a manifest an immutable tag points at is refused with the
// server's words (and code), in English and in Chinese; deleting a repository's last manifest from the image
// page says so once and leaves for the project's repositories. Screenshots go to test-artifacts/.
import path from "node:path";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { launchBrowser, type Browser } from "./support/browser";
import { tinyImage, twoPlatformIndex, writeOciLayout, type ImageSpec, type IndexSpec } from "./support/oci-layout";
import { makeTempDir, removeTree } from "./support/process";
import { dockerRef, skopeoCopy, skopeoListTags } from "./support/skopeo";
import { requireBinaries } from "./support/tools";
import { waitFor } from "../support/wait-for";

jest.setTimeout(180_000);

const PASSWORD = "admin-pass-1";
const CREDS = `admin:${PASSWORD}`;
let registry: TestRegistry;
let browser: Browser;
let work: string;

/** tinyImage with a label of its own, so each variant is a different manifest. */
const variant = (n: string): ImageSpec => {
  const base = tinyImage();
  return { ...base, config: { ...base.config, Labels: { "org.berth.test": `variant-${n}` } } };
};

async function push(spec: ImageSpec | IndexSpec, repo: string, tag: string, all = false): Promise<void> {
  const layout = await writeOciLayout(path.join(work, `${repo.replace(/\//g, "_")}-${tag}-${Math.random().toString(36).slice(2)}`), tag, spec);
  await skopeoCopy(layout.ref, dockerRef(registry.host, repo, tag), { destCreds: CREDS, all });
}

async function signIn(b: Browser, labels: { username: string; password: string; submit: string }): Promise<void> {
  await b.page.goto(`${registry.url}/login`);
  await b.page.getByLabel(labels.username).fill("admin");
  await b.page.getByLabel(labels.password).fill(PASSWORD);
  await b.page.getByRole("button", { name: labels.submit }).click();
  await b.page.waitForURL((url) => !url.pathname.startsWith("/login"));
}

beforeAll(async () => {
  requireBinaries("skopeo", "chromium");
  work = await makeTempDir("berth-e2e-artifacts");
  registry = await startTestRegistry({ config: { auth: { enabled: true, adminPassword: PASSWORD }, immutableTags: [{ project: "team", tags: ["release-.*"] }] } });
  await push(variant("1"), "team/app", "v1");
  await push(variant("2"), "team/app", "v1"); // moves v1: variant 1 is left untagged
  await push(variant("3"), "team/app", "release-1.0");
  await push(twoPlatformIndex(), "team/app", "multi", true);
  await push(variant("4"), "team/solo", "only");
  browser = await launchBrowser();
  await signIn(browser, { username: "Username", password: "Password", submit: "Sign in" });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await registry?.stop();
  if (work) await removeTree(work);
});

const rowWithTag = (b: Browser, tag: string) => b.page.getByTestId("artifacts").locator("tbody tr", { hasText: tag });

test("artifacts: platforms per row, the untagged filter after a moved tag, and deleting the untagged manifest", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/repositories/team/app`);
  const table = page.getByTestId("artifacts");
  await rowWithTag(browser, "multi").waitFor();
  expect(await table.locator("tbody tr").count()).toBe(4);
  const multi = await rowWithTag(browser, "multi").textContent();
  expect(multi).toContain("linux/amd64");
  expect(multi).toContain("linux/arm64");
  // A single image shows its config's platform, not a dash.
  expect(await rowWithTag(browser, "v1").textContent()).toContain("linux/amd64");
  await page.getByTestId("filter-untagged").getByText("(1)").waitFor();
  await browser.screenshot("artifacts-01-list");

  await page.getByTestId("filter-untagged").click();
  await page.waitForURL(/untagged=1/);
  await waitFor("only the untagged manifest", async () => (await table.locator("tbody tr").count()) === 1 && !(await table.textContent())?.includes("multi"));
  expect(await table.locator("tbody tr").textContent()).toContain("untagged");
  await browser.screenshot("artifacts-02-untagged");

  await table.locator("tbody tr").getByRole("button", { name: "Delete" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByText("Delete the untagged manifest").waitFor();
  await dialog.getByRole("button", { name: "Delete" }).click();
  await dialog.waitFor({ state: "detached" });
  await page.getByTestId("filter-untagged").getByText("(0)").waitFor();
  expect(await table.locator("tbody tr").count()).toBe(0);
  // The other tags are untouched.
  expect((await skopeoListTags(`docker://${registry.host}/team/app`, CREDS)).sort()).toEqual(["multi", "release-1.0", "v1"]);
});

test("deleting a manifest with an immutable tag shows the server's refusal, in English", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/repositories/team/app`);
  await rowWithTag(browser, "release-1.0").getByRole("button", { name: "Delete" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByText("with its tags release-1.0").waitFor();
  await dialog.getByRole("button", { name: "Delete" }).click();
  const alert = dialog.getByRole("alert");
  await alert.waitFor();
  const text = await alert.textContent();
  expect(text).toContain("Tag is immutable:");
  expect(text).toMatch(/tag release-1\.0 is immutable \(.+\) and cannot be deleted/);
  expect(text).toContain("DENIED");
  expect(text).not.toContain("You do not have access");
  await browser.screenshot("artifacts-03-immutable-refused");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  expect(await skopeoListTags(`docker://${registry.host}/team/app`, CREDS)).toContain("release-1.0");
});

test("deleting a manifest with an immutable tag shows the server's refusal, in Chinese", async () => {
  const zh = await launchBrowser({ locale: "zh-CN" });
  try {
    await signIn(zh, { username: "用户名", password: "密码", submit: "登录" });
    await zh.page.goto(`${registry.url}/repositories/team/app`);
    await rowWithTag(zh, "release-1.0").getByRole("button", { name: "删除" }).click();
    const dialog = zh.page.getByRole("dialog");
    await dialog.getByText("及其标签 release-1.0").waitFor();
    await dialog.getByRole("button", { name: "删除" }).click();
    const alert = dialog.getByRole("alert");
    await alert.waitFor();
    const text = await alert.textContent();
    expect(text).toContain("标签不可变:");
    expect(text).toMatch(/tag release-1\.0 is immutable \(.+\) and cannot be deleted/);
    expect(text).toContain("DENIED");
    await zh.screenshot("artifacts-04-immutable-refused-zh");
  } finally {
    await zh.close();
  }
});

test("deleting a repository's last manifest from the image page says so once and goes to its project", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/repositories/team/solo`);
  await rowWithTag(browser, "only").getByRole("link").first().click();
  await page.getByTestId("delete-image").click();
  const dialog = page.getByRole("dialog");
  await dialog.getByText("with its tags only").waitFor();
  await dialog.getByRole("button", { name: "Delete" }).click();
  await page.waitForURL(/\/repositories\?project=team$/);
  await page.getByText("team/solo held no other manifest and is now empty").waitFor();
  expect(await page.getByRole("alert").count()).toBe(0);
  await browser.screenshot("artifacts-05-last-manifest-deleted");
  // An emptied repository answers no tags, or is unknown altogether: either way nothing is left to pull.
  expect(await skopeoListTags(`docker://${registry.host}/team/solo`, CREDS).catch(() => [])).toEqual([]);
});
