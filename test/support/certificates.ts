// Throwaway certificates for the TLS tests, made with Debian's openssl: a CA, and a server certificate it
// signs for 127.0.0.1 and localhost (so clients can verify against the CA, not just skip verification).
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);

export interface TestCertificates {
  dir: string;
  caFile: string;
  ca: Buffer;
  certFile: string;
  keyFile: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await exec("openssl", args, { cwd });
  } catch (err) {
    const e = err as { code?: string; stderr?: string; message: string };
    if (e.code === "ENOENT") throw new Error("openssl not found: run `npm run test:setup` (Debian package openssl)");
    throw new Error(`openssl ${args.join(" ")} failed: ${e.stderr ?? e.message}`);
  }
}

/** A CA and a server certificate for 127.0.0.1/localhost under `dir`; `name` keeps several sets apart. */
export async function makeTestCertificates(dir: string, options: { name?: string; days?: number; ca?: { certFile: string; keyFile: string } } = {}): Promise<TestCertificates> {
  await mkdir(dir, { recursive: true });
  const name = options.name ?? "server";
  const days = String(options.days ?? 2);
  let caFile = options.ca?.certFile ?? path.join(dir, "ca.crt");
  let caKey = options.ca?.keyFile ?? path.join(dir, "ca.key");
  if (!options.ca) {
    caFile = path.join(dir, "ca.crt");
    caKey = path.join(dir, "ca.key");
    await openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", caKey, "-out", caFile, "-days", days, "-subj", "/CN=Berth Test CA"], dir);
  }
  const keyFile = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const certFile = path.join(dir, `${name}.crt`);
  const ext = path.join(dir, `${name}.ext`);
  await writeFile(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  await openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyFile, "-out", csr, "-subj", `/CN=${name}`], dir);
  await openssl(["x509", "-req", "-in", csr, "-CA", caFile, "-CAkey", caKey, "-CAcreateserial", "-out", certFile, "-days", days, "-extfile", ext], dir);
  return { dir, caFile, ca: await readFile(caFile), certFile, keyFile };
}
