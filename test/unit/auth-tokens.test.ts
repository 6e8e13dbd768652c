// TokenService: what it issues and what it refuses to verify, with an in-memory key ring.
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import type { KeyRing, SigningKey } from "../../src/auth/signing-keys";
import type { AccountPrincipal } from "../../src/auth/principal";
import type { CredentialState } from "../../src/metadata/account-store";
import { InvalidTokenError, TokenService, type TokenOptions } from "../../src/auth/tokens";
import { claims, decodeJwt, es256Jwt, hs256Jwt, unsignedJwt } from "../support/auth-helpers";

function ecKey(): KeyObject {
  return generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
}

class FakeRing {
  readonly public = new Map<string, KeyObject>();
  constructor(public signer: SigningKey) {
    this.public.set(signer.kid, createPublicKey(signer.privateKey));
  }
  signingKey() {
    return this.signer;
  }
  async verificationKey(kid: string) {
    return this.public.get(kid) ?? null;
  }
}

const ALICE: AccountPrincipal = { kind: "user", name: "alice", id: 1, generation: 1, isAdmin: false };
const BOB: AccountPrincipal = { kind: "user", name: "bob", id: 2, generation: 1, isAdmin: false };

const OPTIONS: TokenOptions = { issuer: "berth", service: "berth", ttlSeconds: 300, refreshTtlSeconds: 3600, clockSkewSeconds: 30 };
const KID = "ABCD:EFGH:IJKL:MNOP:QRST:UVWX:YZ23:4567:ABCD:EFGH:IJKL:MNOP";

async function refused(promise: Promise<unknown>): Promise<boolean> {
  try {
    await promise;
    return false;
  } catch (err) {
    if (err instanceof InvalidTokenError) return true;
    throw err;
  }
}

describe("TokenService", () => {
  let key: KeyObject;
  let ring: FakeRing;
  let tokens: TokenService;
  let states: Map<string, CredentialState>;
  beforeEach(() => {
    key = ecKey();
    ring = new FakeRing({ kid: KID, algorithm: "ES256", privateKey: key });
    const current = (): CredentialState => ({ generation: 1, disabled: false, expiresAt: null });
    states = new Map([["user:1", current()], ["user:2", current()]]);
    tokens = new TokenService(ring as unknown as KeyRing, OPTIONS, { credentialState: async (a) => states.get(`${a.kind}:${a.id}`) ?? null });
  });

  it("issues ES256 access tokens with kid and every claim the spec names", async () => {
    const access = [{ type: "repository" as const, name: "team/app", actions: ["pull", "push"] }];
    const issued = tokens.issueAccess(ALICE, access);
    expect(issued.expiresIn).toBe(300);
    expect(new Date(issued.issuedAt).toISOString()).toBe(issued.issuedAt);
    const { header, payload } = decodeJwt(issued.token);
    expect(header).toMatchObject({ alg: "ES256", kid: KID });
    expect(payload).toMatchObject({ iss: "berth", sub: "alice", account: "user:1", generation: 1, aud: "berth", access });
    for (const claim of ["exp", "nbf", "iat"]) expect(typeof payload[claim]).toBe("number");
    expect(typeof payload.jti).toBe("string");
    expect((payload.exp as number) - (payload.iat as number)).toBe(300);
    expect(payload.nbf as number).toBeLessThanOrEqual(payload.iat as number);
    expect(await tokens.verifyAccess(issued.token)).toMatchObject({ subject: "alice", access });
    // Unique ids, even within one second.
    expect(decodeJwt(tokens.issueAccess(ALICE, access).token).payload.jti).not.toBe(payload.jti);
  });

  it("keeps refresh and access tokens apart", async () => {
    const refresh = tokens.issueRefresh(ALICE);
    const access = tokens.issueAccess(ALICE, []).token;
    expect(await tokens.verifyRefresh(refresh)).toEqual({ subject: "alice", account: { kind: "user", id: 1, generation: 1 } });
    expect(await refused(tokens.verifyAccess(refresh))).toBe(true);
    expect(await refused(tokens.verifyRefresh(access))).toBe(true);
    expect(decodeJwt(refresh).payload.access).toBeUndefined();
  });

  it("refuses a changed payload and a changed signature", async () => {
    const token = tokens.issueAccess(BOB, [{ type: "repository", name: "a", actions: ["pull"] }]).token;
    const [h, , s] = token.split(".");
    const widened = Buffer.from(JSON.stringify({ ...decodeJwt(token).payload, access: [{ type: "repository", name: "a", actions: ["pull", "push", "delete"] }] })).toString("base64url");
    expect(await refused(tokens.verifyAccess(`${h}.${widened}.${s}`))).toBe(true);
    const sig = Buffer.from(s, "base64url");
    sig[10] ^= 0xff;
    expect(await refused(tokens.verifyAccess(`${token.split(".").slice(0, 2).join(".")}.${sig.toString("base64url")}`))).toBe(true);
    expect(await refused(tokens.verifyAccess(`${token.split(".").slice(0, 2).join(".")}.`))).toBe(true);
  });

  it("refuses alg none, and HS256 keyed with the public key (algorithm confusion)", async () => {
    const payload = claims({ sub: "admin", access: [{ type: "registry", name: "catalog", actions: ["*"] }] });
    expect(await refused(tokens.verifyAccess(unsignedJwt(payload, { alg: "none", typ: "JWT", kid: KID })))).toBe(true);
    expect(await refused(tokens.verifyAccess(unsignedJwt(payload, { alg: "None", typ: "JWT", kid: KID })))).toBe(true);
    const pem = createPublicKey(key).export({ type: "spki", format: "pem" }).toString();
    const der = createPublicKey(key).export({ type: "spki", format: "der" });
    expect(await refused(tokens.verifyAccess(hs256Jwt({ alg: "HS256", typ: "JWT", kid: KID }, payload, pem)))).toBe(true);
    expect(await refused(tokens.verifyAccess(hs256Jwt({ alg: "HS256", typ: "JWT", kid: KID }, payload, der)))).toBe(true);
  });

  it("refuses expired, not-yet-valid, wrong-audience, wrong-issuer and unknown-kid tokens; allows the clock skew", async () => {
    const now = Math.floor(Date.now() / 1000);
    const sign = (overrides: Record<string, unknown>, kid = KID, k = key) => es256Jwt(k, kid, claims(overrides));
    expect(await refused(tokens.verifyAccess(sign({})))).toBe(false);
    expect(await refused(tokens.verifyAccess(sign({ iat: now - 400, nbf: now - 400, exp: now - 120 })))).toBe(true);
    expect(await refused(tokens.verifyAccess(sign({ nbf: now + 120 })))).toBe(true);
    expect(await refused(tokens.verifyAccess(sign({ aud: "other-registry" })))).toBe(true);
    expect(await refused(tokens.verifyAccess(sign({ iss: "someone-else" })))).toBe(true);
    expect(await refused(tokens.verifyAccess(sign({}, "UNKN:OWNK:IDXX")))).toBe(true);
    // Signed by another key under our kid.
    expect(await refused(tokens.verifyAccess(sign({}, KID, ecKey())))).toBe(true);
    // No kid at all.
    expect(await refused(tokens.verifyAccess(hs256Jwt({ alg: "ES256", typ: "JWT" }, claims(), "x")))).toBe(true);
    // Within the small skew: accepted.
    expect(await refused(tokens.verifyAccess(sign({ iat: now - 310, nbf: now - 310, exp: now - 10 })))).toBe(false);
    expect(await refused(tokens.verifyAccess(sign({ nbf: now + 10 })))).toBe(false);
    // Garbage.
    for (const junk of ["", "abc", "a.b.c", "....", `${Buffer.from("{").toString("base64url")}.e30.`]) {
      expect(await refused(tokens.verifyAccess(junk))).toBe(true);
    }
  });

  it("does not trust an access claim of the wrong shape", async () => {
    const token = es256Jwt(key, KID, claims({ access: [{ type: "repository", name: "a", actions: "pull" }, { type: "admin", name: "x", actions: ["*"] }, "repository:b:pull"] }));
    expect((await tokens.verifyAccess(token)).access).toEqual([]);
  });

  it("keeps verifying tokens of an older key after the signer changed", async () => {
    const old = tokens.issueAccess(ALICE, []).token;
    const next = ecKey();
    const nextKid = "NEXT:NEXT:NEXT:NEXT:NEXT:NEXT:NEXT:NEXT:NEXT:NEXT:NEXT:NEXT";
    ring.public.set(nextKid, createPublicKey(next));
    ring.signer = { kid: nextKid, algorithm: "ES256", privateKey: next };
    const fresh = tokens.issueAccess(ALICE, []).token;
    expect(decodeJwt(fresh).header.kid).toBe(nextKid);
    expect(await refused(tokens.verifyAccess(old))).toBe(false);
    expect(await refused(tokens.verifyAccess(fresh))).toBe(false);
  });

  it("refuses an access token once its account is deleted, disabled or expired, or its credential generation moved on", async () => {
    const token = tokens.issueAccess(ALICE, []).token;
    expect(await refused(tokens.verifyAccess(token))).toBe(false);
    states.set("user:1", { generation: 2, disabled: false, expiresAt: null });
    expect(await refused(tokens.verifyAccess(token))).toBe(true);
    states.set("user:1", { generation: 1, disabled: true, expiresAt: null });
    expect(await refused(tokens.verifyAccess(token))).toBe(true);
    states.set("user:1", { generation: 1, disabled: false, expiresAt: new Date(Date.now() - 1000) });
    expect(await refused(tokens.verifyAccess(token))).toBe(true);
    states.delete("user:1");
    expect(await refused(tokens.verifyAccess(token))).toBe(true);
    // Checked on every use, not only the first: the signature cache does not cache the account's state.
    states.set("user:1", { generation: 1, disabled: false, expiresAt: null });
    expect(await refused(tokens.verifyAccess(token))).toBe(false);
  });

  it("refuses account tokens that do not name their account by id; anonymous tokens name none", async () => {
    const sign = (overrides: Record<string, unknown>) => es256Jwt(key, KID, claims(overrides));
    expect(await refused(tokens.verifyAccess(sign({ sub: "alice", account: undefined, generation: undefined })))).toBe(true);
    expect(await refused(tokens.verifyAccess(sign({ sub: "alice", account: "user:1", generation: "1" })))).toBe(true);
    expect(await refused(tokens.verifyAccess(sign({ sub: "alice", account: "user:1", generation: 2 ** 31 })))).toBe(true);
    expect(await refused(tokens.verifyAccess(sign({ sub: "alice", account: "user:1", generation: 1.5 })))).toBe(true);
    for (const account of ["user:01", "user:-1", "admin:1", "user:1:x", "robot:", 1, "user:2147483648", "user:99999999999"]) {
      expect(await refused(tokens.verifyAccess(sign({ sub: "alice", account, generation: 1 })))).toBe(true);
    }
    expect(await tokens.verifyAccess(sign({ sub: "", account: undefined, generation: undefined }))).toMatchObject({ subject: "", account: null });
    expect(await refused(tokens.verifyRefresh(sign({ sub: "alice", typ: "refresh", account: undefined })))).toBe(true);
  });
});
