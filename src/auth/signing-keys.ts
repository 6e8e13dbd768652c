import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { NewSigningKeyRow, SigningKeyStore } from "../metadata/signing-key-store";

export interface SigningKey {
  kid: string;
  algorithm: "ES256" | "RS256";
  privateKey: KeyObject;
}

/**
 * Token signing keys. Generated on first start and kept in Postgres so every replica signs and verifies
 * with the same keys and tokens survive restarts (or loaded from a PEM file named in the config).
 * rotate() makes a new key the signer; older keys keep verifying until they are retired after the longest
 * token lifetime, so tokens issued before a rotation stay valid until they expire.
 */
export class KeyRing {
  private verifiers = new Map<string, KeyObject>();
  private lastReload = 0;

  private constructor(
    private readonly store: SigningKeyStore,
    private signer: SigningKey,
    private readonly fromFile: boolean,
  ) {
    this.verifiers.set(signer.kid, createPublicKey(signer.privateKey));
  }

  static async open(store: SigningKeyStore, options: { keyFile?: string; retainSeconds: number }): Promise<KeyRing> {
    if (options.keyFile) {
      const privateKey = createPrivateKey(readFileSync(options.keyFile));
      return new KeyRing(store, { kid: keyId(privateKey), algorithm: algorithmOf(privateKey), privateKey }, true);
    }
    const ring = new KeyRing(store, fromRow(await store.ensureActive(() => toRow(generateKey()))), false);
    await ring.reload(options.retainSeconds);
    const timer = setInterval(() => void ring.reload(options.retainSeconds).catch(() => undefined), 5_000);
    timer.unref();
    return ring;
  }

  signingKey(): SigningKey {
    return this.signer;
  }

  /** The public key for a token's kid; an unknown kid re-reads the database (another replica may have rotated). */
  async verificationKey(kid: string, retainSeconds: number): Promise<KeyObject | null> {
    const known = this.verifiers.get(kid);
    if (known || this.fromFile) return known ?? null;
    if (Date.now() - this.lastReload > 5_000) await this.reload(retainSeconds);
    return this.verifiers.get(kid) ?? null;
  }

  /** Makes a new key the signer; the previous ones stay valid for verification for `retainSeconds`. */
  async rotate(retainSeconds: number): Promise<string> {
    const fresh = generateKey();
    await this.store.rotate(toRow(fresh));
    this.signer = fresh;
    await this.reload(retainSeconds);
    return fresh.kid;
  }

  private async reload(retainSeconds: number): Promise<void> {
    this.lastReload = Date.now();
    const cutoff = new Date(Date.now() - retainSeconds * 1000);
    const rows = await this.store.usable(cutoff);
    this.verifiers = new Map(rows.map((r) => [r.kid, createPublicKey(r.publicKey)]));
    const active = rows.filter((r) => r.retiredAt === null).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0];
    if (active && active.kid !== this.signer.kid) this.signer = fromRow(active);
  }
}

function generateKey(): SigningKey {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { kid: keyId(privateKey), algorithm: "ES256", privateKey };
}

function toRow(key: SigningKey): NewSigningKeyRow {
  return {
    kid: key.kid,
    algorithm: key.algorithm,
    privateKey: key.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKey: createPublicKey(key.privateKey).export({ type: "spki", format: "pem" }).toString(),
  };
}

function fromRow(row: { kid: string; algorithm: string; privateKey: string }): SigningKey {
  return { kid: row.kid, algorithm: row.algorithm as SigningKey["algorithm"], privateKey: createPrivateKey(row.privateKey) };
}

function algorithmOf(key: KeyObject): SigningKey["algorithm"] {
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return "ES256";
  if (key.asymmetricKeyType === "rsa") return "RS256";
  throw new Error("auth.signingKeyFile must hold an EC P-256 or an RSA private key (PEM)");
}

/** The libtrust-style key id Docker's token tooling uses: base32 of the SPKI digest, in groups of four. */
function keyId(privateKey: KeyObject): string {
  const der = createPublicKey(privateKey).export({ type: "spki", format: "der" });
  const digest = createHash("sha256").update(der).digest().subarray(0, 30);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const byte of digest) bits += byte.toString(2).padStart(8, "0");
  let out = "";
  for (let i = 0; i + 5 <= bits.length; i += 5) out += alphabet[parseInt(bits.slice(i, i + 5), 2)];
  return out.match(/.{4}/g)!.join(":");
}
