import { createHash, type Hash } from "node:crypto";
import { DomainError } from "./errors";

/** A validated content digest, e.g. "sha256:<64 hex>". Constructed only by parseDigest. */
export type Digest = string & { readonly __digest: unique symbol };

export type DigestAlgorithm = "sha256" | "sha512";

const ENCODED_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
// The spec's general grammar; registered algorithms then constrain the encoded part further.
const DIGEST_GRAMMAR = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

export function isDigestLike(value: string): boolean {
  return value.includes(":");
}

export function parseDigest(value: string): Digest {
  const m = DIGEST_GRAMMAR.exec(value);
  if (!m) throw new DomainError("DigestInvalid", `invalid digest format: ${truncate(value)}`);
  const [, algorithm, encoded] = m;
  if (algorithm !== "sha256" && algorithm !== "sha512") {
    throw new DomainError("DigestInvalid", `unsupported digest algorithm: ${truncate(algorithm)}`);
  }
  if (encoded.length !== ENCODED_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(encoded)) {
    throw new DomainError("DigestInvalid", `invalid ${algorithm} digest: ${truncate(value)}`);
  }
  return value as Digest;
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(":")) as DigestAlgorithm;
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(":") + 1);
}

export function createDigester(algorithm: DigestAlgorithm = "sha256"): Hash {
  return createHash(algorithm);
}

export function finishDigest(algorithm: DigestAlgorithm, hash: Hash): Digest {
  return `${algorithm}:${hash.digest("hex")}` as Digest;
}

export function digestOf(data: Buffer, algorithm: DigestAlgorithm = "sha256"): Digest {
  return finishDigest(algorithm, createHash(algorithm).update(data));
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}
