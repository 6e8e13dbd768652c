// The CLI as users run it: the compiled dist/main.js (built by `npm test`'s pretest), in a child process.
import { spawn, execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "../support/free-port";
import { waitFor } from "../support/wait-for";

const MAIN = path.resolve(__dirname, "../../dist/main.js");
const run = promisify(execFile);

/**
 * The server's stdout so far, as plain text, kept from its start: a line arriving in the same chunk as the
 * one waited for before is not missed.
 */
function serverOutput(child: ReturnType<typeof spawn>): { text(): string; line(pattern: RegExp): Promise<string> } {
  let seen = "";
  let exit: string | undefined;
  child.stdout!.on("data", (chunk: Buffer) => (seen += chunk.toString()));
  child.once("exit", (code) => (exit = `exited with ${code}: ${plain(seen)}`));
  const text = () => plain(seen);
  return {
    text,
    line: (pattern) => waitFor(`a line matching ${pattern}`, () => text().split("\n").find((l) => pattern.test(l)), { abort: () => exit, timeoutMs: 60_000 }),
  };
}

describe("berth CLI", () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "berth-cli-"));
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it("prints help", async () => {
    const { stdout } = await run("node", [MAIN, "--help"]);
    expect(stdout).toMatch(/Usage: berth \[global options\] <command>/);
    expect(stdout).toMatch(/serve/);
    expect(stdout).toMatch(/migrate/);
  });

  it("refuses unknown commands and bad configuration with exit code 2 and the key's name", async () => {
    await expect(run("node", [MAIN, "frobnicate"])).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown command frobnicate/) });
    await expect(run("node", [MAIN, "serve"], { env: { ...process.env, BERTH_LISTEN: "nonsense" } })).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/listen: must be host:port/),
    });
  });

  it("names the closest valid option for an unknown one, before or after the command", async () => {
    await expect(run("node", [MAIN, "serve", "--prot", "5900"])).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown option --prot \(did you mean --port\?\)/) });
    await expect(run("node", [MAIN, "--data-dri", dataDir, "serve"])).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown option --data-dri \(did you mean --data-dir\?\)/) });
    await expect(run("node", [MAIN, "serve", "--port", "5900", "--listen", "0.0.0.0:5900"])).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/--listen HOST:PORT or --port PORT, not both/) });
  });

  it("accepts --port N as shorthand for --listen 127.0.0.1:N (npm start -- --port N)", async () => {
    const port = await freePort();
    const child = spawn("node", [MAIN, "serve", "--port", String(port), "--data-dir", dataDir], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const output = serverOutput(child);
      await output.line(new RegExp(`listening on http://127\\.0\\.0\\.1:${port}`));
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      const exited = new Promise((resolve) => (child.exitCode === null ? child.once("exit", resolve) : resolve(null)));
      child.kill("SIGTERM");
      await exited;
    }
  });

  it("migrates the embedded database and says so", async () => {
    const { stdout } = await run("node", [MAIN, "migrate", "--data-dir", dataDir]);
    expect(stdout).toMatch(/database \(embedded\) is up to date/);
  });

  it("serves on the embedded defaults with auth on, logs each request as a JSON line, and lets an upload finish on SIGTERM", async () => {
    const port = await freePort();
    const child = spawn("node", [MAIN, "serve", "--listen", `127.0.0.1:${port}`, "--data-dir", dataDir], { stdio: ["ignore", "pipe", "pipe"] });
    const output = serverOutput(child);
    let authorization: string;
    try {
      // First start: an admin is created and its generated password printed once.
      const bootstrap = await output.line(/generated password is: /);
      const password = /generated password is: (\S+?)"/.exec(bootstrap)![1];
      authorization = `Basic ${Buffer.from(`admin:${password}`).toString("base64")}`;
      await output.line(/Berth listening/);
      const base = `http://127.0.0.1:${port}`;
      const anonymous = await fetch(`${base}/v2/`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get("www-authenticate")).toBe(`Bearer realm="http://127.0.0.1:${port}/token",service="berth"`);
      expect((await fetch(`${base}/v2/`, { headers: { authorization } })).status).toBe(200);

      // A slow upload in flight when SIGTERM arrives still completes: shutdown waits for it.
      const data = Buffer.alloc(256 * 1024, 7);
      const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(data.subarray(0, 1024));
          await gate;
          controller.enqueue(data.subarray(1024));
          controller.close();
        },
      });
      const upload = fetch(`${base}/v2/cli/test/blobs/uploads/?digest=${digest}`, { method: "POST", body, duplex: "half", headers: { authorization } } as RequestInit);
      await waitFor("the upload in progress", async () => /^berth_uploads_in_progress 1$/m.test(await (await fetch(`${base}/metrics`)).text()));
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await output.line(/"msg":"shutting down"/);
      release();
      expect((await upload).status).toBe(201);
      expect(await exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }

    // The request log: one JSON line per request with method, url, status, duration.
    // Restarted on the same data: the admin's password still works (nothing is generated twice).
    const restarted = spawn("node", [MAIN, "serve", "--listen", `127.0.0.1:${port}`, "--data-dir", dataDir], { stdio: ["ignore", "pipe", "pipe"] });
    const restartedOutput = serverOutput(restarted);
    try {
      await restartedOutput.line(/Berth listening/);
      const logged = restartedOutput.line(/"msg":"request"/);
      const res = await fetch(`http://127.0.0.1:${port}/v2/cli/test/blobs/${createHash("sha256").update(Buffer.alloc(256 * 1024, 7)).digest("hex").replace(/^/, "sha256:")}`, { method: "HEAD", headers: { authorization } });
      expect(res.status).toBe(200);
      const entry = JSON.parse(await logged);
      expect(entry).toMatchObject({ method: "HEAD", status: 200, url: expect.stringMatching(/^\/v2\/cli\/test\/blobs\//) });
      expect(typeof entry.ms).toBe("number");
    } finally {
      restarted.kill("SIGKILL");
    }
  });

  it("refuses an unknown log format with exit code 2, naming the key", async () => {
    await expect(run("node", [MAIN, "serve", "--log-format", "loud", "--data-dir", dataDir])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/logFormat: .*"auto"\|"json"\|"pretty"/),
    });
  });

  it("prints readable lines when asked: the first admin's password boxed, one short line per request, no JSON", async () => {
    const port = await freePort();
    const child = spawn("node", [MAIN, "serve", "--log-format", "pretty", "--listen", `127.0.0.1:${port}`, "--data-dir", dataDir], { stdio: ["ignore", "pipe", "pipe"] });
    const output = serverOutput(child);
    try {
      await output.line(/Berth listening on http:\/\/127\.0\.0\.1/);
      const lines = output.text().split("\n");
      // The box: a top rule, the message wrapped inside side bars, the password alone on its own line, a bottom rule.
      const top = lines.findIndex((l) => /^┌─+┐$/.test(l));
      const bottom = lines.findIndex((l, i) => i > top && /^└─+┘$/.test(l));
      expect({ top: top >= 0, bottom: bottom > top + 1 }).toEqual({ top: true, bottom: true });
      const inside = lines.slice(top + 1, bottom);
      for (const line of inside) expect(line).toMatch(/^│ .* │$/);
      expect(inside.join(" ")).toMatch(/created the first admin account; its generated password is:/);
      const password = inside[inside.length - 1].slice(2, -2).trim();
      expect(password).toMatch(/^\S{16,}$/);

      const base = `http://127.0.0.1:${port}`;
      const authorization = `Basic ${Buffer.from(`admin:${password}`).toString("base64")}`;
      const logged = output.line(/GET \/v2\/ 200 [\d.]+ ms/);
      expect((await fetch(`${base}/v2/`, { headers: { authorization } })).status).toBe(200);
      const request = plain(await logged);
      expect(request).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: GET \/v2\/ 200 [\d.]+ ms$/);
      expect(output.text().split("\n").filter((l) => l.trim().startsWith("{"))).toEqual([]);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("prints readable lines on a terminal by default (run under script(1), which gives it a pty)", async () => {
    const port = await freePort();
    const command = `node ${MAIN} serve --listen 127.0.0.1:${port} --data-dir ${dataDir}`;
    const child = spawn("script", ["-qfec", command, "/dev/null"], { stdio: ["ignore", "pipe", "pipe"] });
    const output = serverOutput(child);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      await output.line(/Berth listening/);
      expect(output.text()).toMatch(/^│ .*generated password is:/m);
      expect(output.text()).toMatch(/INFO.*Berth listening on http:\/\/127\.0\.0\.1/);
      expect(output.text()).not.toMatch(/"msg":/);
    } finally {
      child.kill("SIGTERM"); // script(1) ends the server it runs
      await exited;
    }
  });
});

/** Without colours (a terminal gets them) and the pty's carriage returns. */
function plain(text: string): string {
  return text.replace(/\x1b\[[0-9;]*m/g, "").replace(/\r/g, "");
}
