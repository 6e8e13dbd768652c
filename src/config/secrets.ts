import { z } from "zod";

/**
 * How a configuration value that may hold a secret is shown (the Settings page's effective configuration):
 * `whole`: not at all; `url`: with its password, query values and fragment hidden (postgres://berth:…@db/berth),
 * and its user name when it comes without a password (https://TOKEN@host);
 * `origin`: scheme, host and port only (a webhook URL's path may itself be the credential).
 */
export type SecretKind = "whole" | "url" | "origin";

/** The schema's own knowledge of which keys are secret: marked where they are declared. */
export const secretKeys = z.registry<{ secret: SecretKind }>();

export function secret<T extends z.ZodType>(schema: T, kind: SecretKind = "whole"): T {
  secretKeys.add(schema, { secret: kind });
  return schema;
}
