// Project webhooks in the web UI, end to end in a real headless Chromium against Berth with auth on: a
// project admin (not a site admin) adds an endpoint pointing at a local receiver, sends a test and sees the
// delivery row with the receiver's own status code; the webhook from the server's configuration is listed
// read-only; the same screen in Chinese. Screenshots go to test-artifacts/.
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { api, login } from "../support/web-client";
import { signatureVerifies, startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver";
import { launchBrowser, type Browser } from "./support/browser";
import { requireBinaries } from "./support/tools";
import { waitFor } from "../support/wait-for";

jest.setTimeout(180_000);

const PASSWORD = "admin-pass-1";
const CAROL = { username: "carol", password: "carol-pass-1" };
const SECRET = "carol-receiver-secret-1";
let registry: TestRegistry;
let receiver: WebhookReceiver;
let browser: Browser;

beforeAll(async () => {
  requireBinaries("chromium");
  receiver = await startWebhookReceiver();
  // 202, not 200: the row must show what the receiver answered.
  receiver.answer("/carol", 202);
  registry = await startTestRegistry({
    config: {
      auth: { enabled: true, adminPassword: PASSWORD },
      notifications: { allowPrivateNetworks: true, endpoints: [{ name: "ops-audit", url: `${receiver.base}/ops`, actions: ["push", "delete"] }] },
    },
  });
  const admin = await login(registry.url, "admin", PASSWORD);
  const ok = async (res: Promise<Response>, status: number) => expect((await res).status).toBe(status);
  await ok(api(registry.url, "POST", "/api/v1/users", admin, CAROL), 201);
  await ok(api(registry.url, "POST", "/api/v1/projects", admin, { name: "team" }), 201);
  await ok(api(registry.url, "PUT", "/api/v1/projects/team/members/carol", admin, { role: "admin" }), 204);
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await registry?.stop();
  await receiver?.close();
});

async function signIn(b: Browser, labels: { username: string; password: string; submit: string }): Promise<void> {
  await b.page.goto(`${registry.url}/login`);
  await b.page.getByLabel(labels.username).fill(CAROL.username);
  await b.page.getByLabel(labels.password).fill(CAROL.password);
  await b.page.getByRole("button", { name: labels.submit }).click();
  await b.page.waitForURL((url) => !url.pathname.startsWith("/login"));
}

test("a project admin adds a webhook, sends a test and sees the receiver's status code; the configured one is read-only", async () => {
  const { page } = browser;
  await signIn(browser, { username: "Username", password: "Password", submit: "Sign in" });
  await page.goto(`${registry.url}/projects/team`);
  await page.getByTestId("project-webhooks").click();
  await page.waitForURL(/\/projects\/team\/webhooks$/);
  await page.getByText("No webhooks in this project yet.").waitFor();

  const configured = page.getByTestId("configured-webhooks");
  await configured.getByText("ops-audit").waitFor();
  await configured.getByText("from configuration").waitFor();
  // Read-only: no action buttons in the configured table.
  expect(await configured.getByRole("button").count()).toBe(0);

  await page.getByTestId("add-webhook").click();
  const dialog = page.getByRole("dialog");
  // A URL with credentials is refused with the server's words, naming the field.
  await dialog.getByLabel("URL").fill(`http://user:pw@127.0.0.1:${new URL(receiver.base).port}/carol`);
  await dialog.getByTestId("webhook-save").click();
  await dialog.getByRole("alert").getByText(/url: must not contain credentials/).waitFor();
  await dialog.getByLabel("URL").fill(`${receiver.base}/carol`);
  await dialog.getByLabel("delete").check();
  await dialog.getByLabel("Secret").fill(SECRET);
  await browser.screenshot("webhooks-01-add");
  await dialog.getByTestId("webhook-save").click();
  await dialog.waitFor({ state: "detached" });
  await page.getByTestId("webhook-url").getByText(`${receiver.base}/carol`).waitFor();
  await page.getByText("No deliveries yet.").waitFor();

  await page.getByTestId("webhook-test").click();
  await page.getByText("Test delivered: the receiver answered 202").waitFor();
  const row = page.getByTestId("delivery-row").first();
  await row.getByText("delivered").waitFor();
  expect(await row.getByTestId("delivery-code").textContent()).toBe("202");
  expect(await row.locator("td").nth(1).textContent()).toBe("test");
  await browser.screenshot("webhooks-02-tested");

  const got = await waitFor("the test at the receiver", () => (receiver.at("/carol").length ? receiver.at("/carol") : null));
  expect(got).toHaveLength(1);
  expect(JSON.parse(got[0].body).events[0]).toMatchObject({ action: "test", actor: { name: "carol" } });
  expect(signatureVerifies(SECRET, got[0].body, got[0].headers["x-berth-signature-256"])).toBe(true);
});

test("the webhooks screen in Chinese", async () => {
  const zh = await launchBrowser({ locale: "zh-CN" });
  try {
    await signIn(zh, { username: "用户名", password: "密码", submit: "登录" });
    await zh.page.goto(`${registry.url}/projects/team/webhooks`);
    await zh.page.getByRole("heading", { name: "team 的 Webhook" }).waitFor();
    await zh.page.getByTestId("webhook-test").getByText("发送测试").waitFor();
    await zh.page.getByTestId("configured-webhooks").getByText("来自配置").waitFor();
    await zh.page.getByTestId("delivery-row").first().getByText("已送达").waitFor();
    await zh.screenshot("webhooks-03-zh");
  } finally {
    await zh.close();
  }
});
