// Password and secret hashing: scrypt, salted, verifiable, never the password itself.
import { generateSecret, hashSecret, verifySecret } from "../../src/auth/passwords";

describe("password hashing", () => {
  it("round-trips: the right password verifies, a wrong one does not", async () => {
    const stored = await hashSecret("correct horse battery staple");
    expect(await verifySecret("correct horse battery staple", stored)).toBe(true);
    expect(await verifySecret("correct horse battery stapler", stored)).toBe(false);
    expect(await verifySecret("Correct horse battery staple", stored)).toBe(false);
    expect(await verifySecret("", stored)).toBe(false);
  });

  it("stores a salted scrypt hash with its parameters, never the password", async () => {
    const password = "s3cret-Password";
    const a = await hashSecret(password);
    const b = await hashSecret(password);
    expect(a).toMatch(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    const [, n, r] = a.split("$");
    // A memory-hard cost, not a token one.
    expect(Number(n)).toBeGreaterThanOrEqual(16384);
    expect(Number(r)).toBeGreaterThanOrEqual(8);
    expect(a).not.toContain(password);
    expect(a).not.toContain(Buffer.from(password).toString("base64"));
    expect(a).not.toBe(b); // different salts
    expect(await verifySecret(password, b)).toBe(true);
  });

  it("handles unicode and long passwords", async () => {
    const password = `pässwörd-🔑-${"x".repeat(500)}`;
    const stored = await hashSecret(password);
    expect(await verifySecret(password, stored)).toBe(true);
    expect(await verifySecret(password.slice(0, -1), stored)).toBe(false);
  });

  it("refuses malformed or tampered stored values instead of throwing or accepting", async () => {
    const stored = await hashSecret("password-1");
    const parts = stored.split("$");
    const flipped = Buffer.from(parts[5], "base64");
    flipped[0] ^= 1;
    const tampered = [...parts.slice(0, 5), flipped.toString("base64")].join("$");
    expect(await verifySecret("password-1", tampered)).toBe(false);
    expect(await verifySecret("password-1", "")).toBe(false);
    expect(await verifySecret("password-1", "password-1")).toBe(false);
    expect(await verifySecret("password-1", `sha256$${parts.slice(1).join("$")}`)).toBe(false);
    expect(await verifySecret("password-1", parts.slice(0, 5).join("$"))).toBe(false);
    // A shorter hash never matches a prefix.
    const shortened = [...parts.slice(0, 5), Buffer.from(parts[5], "base64").subarray(0, 16).toString("base64")].join("$");
    expect(await verifySecret("password-1", shortened)).toBe(false);
  });

  it("generates long, URL-safe, distinct secrets", () => {
    const a = generateSecret();
    const b = generateSecret();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes
    expect(a).not.toBe(b);
    expect(generateSecret(18)).toMatch(/^[A-Za-z0-9_-]{24}$/);
  });
});
