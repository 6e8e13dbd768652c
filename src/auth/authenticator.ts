import { createHash } from "node:crypto";
import { OciError } from "../oci/errors";
import type { AuditLog } from "../audit/audit-log";
import type { AccountStore } from "./account-store";
import type { LoginThrottle } from "./login-throttle";
import { verifySecret } from "./passwords";
import { ROBOT_PREFIX, type Principal } from "./principal";

/**
 * Turns credentials into a Principal. Failed logins are throttled per account and address, and audited;
 * passwords are never logged. Good credentials are remembered (by a hash of them) for a short while, so
 * clients that send Basic auth on every request do not pay for scrypt every time.
 */
export class Authenticator {
  private readonly recent = new Map<string, { principal: Principal; until: number }>();

  constructor(
    private readonly accounts: AccountStore,
    private readonly throttle: LoginThrottle,
    private readonly audit: AuditLog,
    private readonly cacheMs = 30_000,
  ) {}

  async login(username: string, password: string, clientIp: string): Promise<Principal> {
    const cacheKey = createHash("sha256").update(`${username}\u0000${password}`).digest("hex");
    const hit = this.recent.get(cacheKey);
    if (hit && hit.until > Date.now()) return hit.principal;

    const wait = this.throttle.retryAfter(username, clientIp);
    if (wait > 0) {
      throw new OciError("TOOMANYREQUESTS", "too many failed logins; try again later", { headers: { "Retry-After": String(wait) } });
    }
    const principal = await this.check(username, password);
    this.audit.record({ actor: username, action: "login", success: principal !== null, clientIp });
    if (!principal) {
      this.throttle.fail(username, clientIp);
      throw new OciError("UNAUTHORIZED", "invalid username or password");
    }
    this.throttle.succeed(username, clientIp);
    if (this.recent.size > 10_000) this.recent.clear();
    this.recent.set(cacheKey, { principal, until: Date.now() + this.cacheMs });
    return principal;
  }

  /** The principal behind a refresh token's subject as it is now (a disabled or deleted account gets none). */
  async byName(name: string): Promise<Principal | null> {
    if (name.startsWith(ROBOT_PREFIX)) {
      const robot = await this.accounts.findRobot(name);
      return robot && usableRobot(robot) ? { kind: "robot", name, id: robot.id, permissions: robot.permissions } : null;
    }
    const user = await this.accounts.findUser(name);
    return user && !user.disabled ? { kind: "user", name, id: user.id, isAdmin: user.isAdmin } : null;
  }

  private async check(username: string, password: string): Promise<Principal | null> {
    if (username.startsWith(ROBOT_PREFIX)) {
      const robot = await this.accounts.findRobot(username);
      if (!robot || !usableRobot(robot) || !(await verifySecret(password, robot.secretHash))) return null;
      return { kind: "robot", name: username, id: robot.id, permissions: robot.permissions };
    }
    const user = await this.accounts.findUser(username);
    if (!user || user.disabled || !(await verifySecret(password, user.passwordHash))) return null;
    return { kind: "user", name: username, id: user.id, isAdmin: user.isAdmin };
  }
}

function usableRobot(robot: { disabled: boolean; expiresAt: Date | null }): boolean {
  return !robot.disabled && (robot.expiresAt === null || robot.expiresAt.getTime() > Date.now());
}

/** Decodes "Basic base64(user:pass)"; null when the header is not Basic or is malformed. */
export function parseBasic(header: string | undefined): { username: string; password: string } | null {
  if (!header || !/^basic /i.test(header)) return null;
  const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) return null;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function parseBearer(header: string | undefined): string | null {
  if (!header || !/^bearer /i.test(header)) return null;
  return header.slice(7).trim() || null;
}
