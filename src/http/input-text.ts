import type { RequestHandler } from "express";
import { decodeUtf8, jsonTextProblem, JsonInputError, parseJson, textProblem } from "../kernel/text";
import { OciError } from "./errors";

/**
 * The HTTP boundary's text check: whatever a client sends in the path, the query string or a body that
 * may reach SQL is valid UTF-8 without NUL or lone surrogates, or the request is a 400 in the shared
 * error envelope before any handler runs. Handlers can then trust every string they read.
 */

/** Refuses a request whose path or query string decodes to text that cannot be stored. */
export const urlTextGuard: RequestHandler = (req, _res, next) => {
  const url = req.originalUrl;
  // Node refuses raw control characters in the request line; only escapes can smuggle them in, and only
  // %00 or an escape of a byte ≥ 0x80 can decode to NUL, invalid UTF-8 or a lone surrogate (e.g. the
  // `?digest=sha256%3A…` of every upload is skipped here).
  if (!/%(?:00|[89a-fA-F][0-9a-fA-F])/.test(url)) return next();
  const problem = textProblemOf(percentDecode(url));
  next(problem ? new OciError("INVALID_REQUEST", `the request URL ${problem}`) : undefined);
};

/** A form body (application/x-www-form-urlencoded) whose every name and value is storable text. */
export function readForm(body: Buffer): URLSearchParams {
  const text = decodeUtf8(body);
  if (text === null) throw new OciError("INVALID_REQUEST", "the form is not valid UTF-8");
  const form = new URLSearchParams(text);
  for (const [name, value] of form) {
    const bad = textProblem(name) ?? textProblem(value);
    if (bad) throw new OciError("INVALID_REQUEST", `form field ${textProblem(name) ? "name" : name} ${bad}`);
  }
  return form;
}

/** A JSON body: valid UTF-8, bounded nesting, storable strings; else 400 saying what is wrong. */
export function readJsonText(body: Buffer): unknown {
  const text = decodeUtf8(body);
  if (text === null) throw new OciError("INVALID_REQUEST", "body is not valid UTF-8");
  let value: unknown;
  try {
    value = parseJson(text);
  } catch (err) {
    if (err instanceof JsonInputError) throw new OciError("INVALID_REQUEST", `body is ${err.message}`);
    throw err;
  }
  const problem = jsonTextProblem(value);
  if (problem) throw new OciError("INVALID_REQUEST", problem);
  return value;
}

function textProblemOf(bytes: Buffer): string | null {
  const text = decodeUtf8(bytes);
  if (text === null) return "is not valid UTF-8";
  return textProblem(text);
}

/** %XX escapes as the bytes they stand for; anything else (including a malformed escape) as it is. */
function percentDecode(raw: string): Buffer {
  const out = Buffer.allocUnsafe(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const hex = raw.charCodeAt(i) === 0x25 ? raw.slice(i + 1, i + 3) : "";
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      out[n++] = parseInt(hex, 16);
      i += 2;
    } else out[n++] = raw.charCodeAt(i) & 0xff;
  }
  return out.subarray(0, n);
}
