import type { z } from "zod";
import { OciError } from "./errors";
import type { RequestContext } from "./context";
import { readSmallBody } from "./respond";
import { readJsonText } from "./input-text";

/** A JSON request body checked against `schema`; any problem is a 400 INVALID_REQUEST that says what is wrong where. */
export async function readJson<T>(ctx: RequestContext, schema: z.ZodType<T>, maxBytes: number): Promise<T> {
  const raw = await readSmallBody(ctx.req, maxBytes);
  const value = readJsonText(raw);
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new OciError("INVALID_REQUEST", parsed.error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; "));
  }
  return parsed.data;
}
