import type { IncomingMessage } from "node:http";
import type { AuthComponents } from "../auth";
import { parseBasic, parseBearer } from "../auth/authenticator";
import type { Principal } from "../auth/principal";
import { InvalidTokenError } from "../auth/tokens";
import { OciError } from "../oci/errors";
import { clientIp } from "../http/client-info";

/** Who calls the admin API. With auth off everyone is treated as an admin (a local, open registry). */
export type Caller = Principal | { kind: "open"; name: "" };

export function isAdminCaller(caller: Caller): boolean {
  return caller.kind === "open" || (caller.kind === "user" && caller.isAdmin);
}

/** Identifies the caller from a Bearer token issued by /token or from Basic credentials. */
export async function identifyCaller(auth: AuthComponents, req: IncomingMessage): Promise<Caller> {
  if (!auth.token) return { kind: "open", name: "" };
  const { tokens, authenticator } = auth.token;
  const bearer = parseBearer(req.headers.authorization);
  if (bearer) {
    let subject: string;
    try {
      subject = (await tokens.verifyAccess(bearer)).subject;
    } catch (err) {
      if (err instanceof InvalidTokenError) throw new OciError("UNAUTHORIZED", `invalid token: ${err.message}`);
      throw err;
    }
    const principal = subject ? await authenticator.byName(subject) : null;
    if (!principal) throw new OciError("UNAUTHORIZED", "the token's account is gone or disabled");
    return principal;
  }
  const basic = parseBasic(req.headers.authorization);
  if (basic) return authenticator.login(basic.username, basic.password, clientIp(req));
  throw new OciError("UNAUTHORIZED", "authentication required", { headers: { "WWW-Authenticate": 'Basic realm="berth"' } });
}

export function requireAdmin(caller: Caller): void {
  if (!isAdminCaller(caller)) throw new OciError("DENIED", "administrators only");
}
