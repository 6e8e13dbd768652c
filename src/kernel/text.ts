/**
 * Text a client sent, checked before it reaches the database or a recursive walk. Postgres refuses NUL in
 * text and jsonb (the whole statement fails), and a lone surrogate is silently turned into U+FFFD on the
 * way there; JSON nested thousands of levels deep overflows the stack of whatever walks it later.
 */

/** Why `value` cannot be stored as text, or null when it can. */
export function textProblem(value: string): string | null {
  if (value.includes("\u0000")) return "contains a NUL character";
  // With the u flag a paired surrogate is one code point, so only a lone half matches.
  if (/\p{Cs}/u.test(value)) return "contains a lone UTF-16 surrogate";
  return null;
}

/**
 * `value` made storable, for records that must be kept whatever they say (the audit log): NUL becomes
 * U+2400 (the visible symbol for NUL) and a lone surrogate U+FFFD, so the record still shows what was sent.
 */
export function storableText(value: string): string {
  return textProblem(value) ? value.replace(/\u0000/g, "\u2400").replace(/\p{Cs}/gu, "\uFFFD") : value;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Bytes as UTF-8 text, or null when they are not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

/** Deep enough for any real manifest, config or API body; far below what a recursive walk survives. */
export const MAX_JSON_DEPTH = 64;

export class JsonInputError extends Error {}

/**
 * JSON.parse, refusing documents nested deeper than `maxDepth` (found by one linear scan first, so a
 * hostile document costs no more than reading it).
 */
export function parseJson(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  if (jsonDepthExceeds(text, maxDepth)) throw new JsonInputError(`JSON nested deeper than ${maxDepth} levels`);
  try {
    return JSON.parse(text);
  } catch {
    throw new JsonInputError("not valid JSON");
  }
}

function jsonDepthExceeds(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return true;
    } else if ((c === 0x5d || c === 0x7d) && --depth < 0) {
      // A closer with nothing open: not JSON, and it must not buy the rest of the text extra depth.
      return false;
    }
  }
  return false;
}

/** The first string (key or value) in a parsed JSON value that cannot be stored, as `path: problem`. */
export function jsonTextProblem(value: unknown, path = ""): string | null {
  if (typeof value === "string") {
    const problem = textProblem(value);
    return problem && `${path || "(body)"}: ${problem}`;
  }
  if (value === null || typeof value !== "object") return null;
  for (const [key, child] of Object.entries(value)) {
    const keyProblem = textProblem(key);
    if (keyProblem) return `${path || "(body)"}: a key ${keyProblem}`;
    const problem = jsonTextProblem(child, path ? `${path}.${key}` : key);
    if (problem) return problem;
  }
  return null;
}
