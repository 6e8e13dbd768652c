// Project quotas end to end (issue 15, item 3): an administrator sets a project's quota in a real headless
// Chromium, the projects list shows repositories and usage against it, and real skopeo pushing an image
// the quota has no room for fails with Berth's message (quota, usage and what the push needed) in its error.
import path from "node:path";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { api, login, type Session } from "../support/web-client";
import { launchBrowser, type Browser } from "./support/browser";
import { tinyImage, writeOciLayout, type ImageSpec } from "./support/oci-layout";
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
let admin: Session;

/** An image of about 200 KB of incompressible bytes, over the 100 KiB quota the test sets. */
const bigImage = (): ImageSpec => ({
  layers: [{ comment: "ADD data /", entries: [{ type: "dir", path: "data" }, { type: "file", path: "data/blob", content: { kind: "random", size: 200_000, seed: "quota-e2e" } }] }],
  config: { Cmd: ["/bin/sh"] },
});

const push = async (spec: ImageSpec, repo: string, tag: string) => {
  const layout = await writeOciLayout(path.join(work, `${repo.replace(/\//g, "_")}-${tag}`), tag, spec);
  return skopeoCopy(layout.ref, dockerRef(registry.host, repo, tag), { destCreds: CREDS });
};

beforeAll(async () => {
  requireBinaries("skopeo", "chromium");
  work = await makeTempDir("berth-e2e-quota");
  registry = await startTestRegistry({ config: { auth: { enabled: true, adminPassword: PASSWORD } } });
  admin = await login(registry.url, "admin", PASSWORD);
  const created = await api(registry.url, "POST", "/api/v1/projects", admin, { name: "quota-team" });
  if (created.status !== 201) throw new Error(`creating the project: ${created.status} ${await created.text()}`);
  await push(tinyImage(), "quota-team/app", "1.0");
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await registry?.stop();
  if (work) await removeTree(work);
});

test("an admin sets a quota in the UI, the list shows usage against it, and skopeo's refused push says why", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/`);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  await page.getByRole("link", { name: "Projects" }).click();
  const row = page.locator('tr[data-project="quota-team"]');
  await row.waitFor();
  expect(await row.locator('[data-column="repositories"]').textContent()).toBe("1");
  expect(await row.locator('[data-column="storage"]').textContent()).toMatch(/^[\d.]+ (B|KB), no quota$/);

  // A size the server cannot read is shown as the server worded it, naming the field; nothing changes.
  await row.getByRole("button", { name: "Quota" }).click();
  await page.getByRole("textbox", { name: /^Quota/ }).fill("lots");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("dialog").getByText(/quota: invalid size "lots"/).waitFor();
  await page.getByRole("textbox", { name: /^Quota/ }).fill("100KiB");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("dialog").waitFor({ state: "detached" });
  await waitFor("the list showing the quota", async () => /of 102 KB$/.test((await row.locator('[data-column="storage"]').textContent()) ?? ""));
  await row.getByRole("meter").waitFor();
  await browser.screenshot("quota-01-projects-list");

  // skopeo pushes the layer and gets Berth's refusal: docker-style clients print the message of DENIED.
  await expect(push(bigImage(), "quota-team/big", "1.0")).rejects.toThrow(/denied: project quota-team storage quota 100\.0 KiB exceeded: [\d.]+ (B|KiB) used, this push needs [\d.]+ KiB more/);

  // The project page shows the same figures, the refused layer not counted (its upload session made the
  // repository, empty: a second one).
  await page.goto(`${registry.url}/projects/quota-team`);
  await page.getByText("Repositories: 2").waitFor();
  await page.getByRole("meter").waitFor();
  await browser.screenshot("quota-02-project-page");
  const listed = await api(registry.url, "GET", "/api/v1/projects", admin);
  const team = ((await listed.json()) as Array<{ name: string; usedBytes: number; quotaBytes: number }>).find((p) => p.name === "quota-team")!;
  expect(team.quotaBytes).toBe(100 * 1024);
  expect(team.usedBytes).toBeLessThan(20_000);

  // Lifted from the project page, the same push goes through.
  await page.getByRole("button", { name: "Quota" }).click();
  await page.getByRole("textbox", { name: /^Quota/ }).fill("");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText(/, no quota$/).waitFor();
  await push(bigImage(), "quota-team/big", "1.0");
});
