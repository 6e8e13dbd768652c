import { createHash } from "node:crypto";
import { DomainError } from "../kernel/errors";
import type { EventSink } from "../events/event-bus";
import type { LoginRefusal } from "../events/vocabulary";
import type { AccountRef, AccountStore, RobotRow, UserRow } from "../metadata/account-store";
import type { LoginThrottle } from "./login-throttle";
import { hashSecret, verifySecret } from "./passwords";
import { textProblem } from "../kernel/text";

// Checked against when the account does not exist, so unknown names cost as much as wrong passwords.
let dummyHash: Promise<string> | undefined;
/** A name that is no usable account, and why: each answers the client as an unknown name does. */
type Unusable = { unusable: Exclude<LoginRefusal, "wrong_password" | "wrong_secret"> };
async function burn(password: string, unusable: Unusable["unusable"]): Promise<Unusable> {
  await verifySecret(password, await (dummyHash ??= hashSecret("berth-dummy-password")));
  return { unusable };
}
import { ROBOT_PREFIX, type AccountPrincipal, type Principal } from "./principal";

/**
 * Turns credentials into a Principal. Failed logins are throttled per account and address, and audited;
 * passwords are never logged. Good credentials are remembered (by a hash of them) for a short while, so
 * clients that send Basic auth on every request do not pay for scrypt every time.
 */
export class Authenticator {
  private readonly recent = new Map<string, { hash: string; until: number }>();
  private readonly inFlight = new Map<string, Promise<Principal>>();

  constructor(
    private readonly accounts: AccountStore,
    private readonly throttle: LoginThrottle,
    private readonly events: EventSink,
    private readonly cacheMs = 30_000,
  ) {}

  /**
   * `fresh`: check the password even when the same credentials passed moments ago, so the login is
   * recorded (a web UI sign-in is an event every time; Basic auth on each request is not).
   */
  async login(username: string, password: string, clientIp: string, options: { fresh?: boolean } = {}): Promise<Principal> {
    // The lockout comes first, before the cache of recent logins: a locked account answers 429 to every
    // password alike, so a guesser learns nothing from it, right password included.
    const wait = this.throttle.retryAfter(username, clientIp);
    if (wait > 0) {
      throw new DomainError("TooManyRequests", "too many failed logins; try again later", { retryAfterSeconds: wait });
    }
    const cacheKey = createHash("sha256").update(`${username}\u0000${password}`).digest("hex");
    const hit = this.recent.get(cacheKey);
    if (hit && hit.until > Date.now() && !options.fresh) {
      // Re-read the account (no KDF): a disabled, deleted, demoted or re-keyed account takes effect at once.
      const current = await this.current(username);
      if (current && current.hash === hit.hash) return current.principal;
      this.recent.delete(cacheKey);
    }
    // Parallel requests with the same credentials from one address share one check: a client opening ten
    // connections with the right password is one attempt, not ten counted against the lockout.
    const flightKey = `${cacheKey}\u0000${clientIp}`;
    let flight = this.inFlight.get(flightKey);
    if (!flight) {
      flight = this.verify(username, password, clientIp, cacheKey).finally(() => this.inFlight.delete(flightKey));
      this.inFlight.set(flightKey, flight);
    }
    return flight;
  }

  private async verify(username: string, password: string, clientIp: string, cacheKey: string): Promise<Principal> {
    // Count the attempt before the (slow, async) check, so parallel guesses cannot all pass the gate.
    this.throttle.fail(username, clientIp);
    const checked = await this.check(username, password);
    // Kept apart so that a flood of failures under made-up names cannot evict a lockout on a real account.
    if (checked !== null && "unusable" in checked) this.throttle.unknownAccount(username, clientIp);
    const principal = checked !== null && "kind" in checked ? checked : null;
    const robot = username.startsWith(ROBOT_PREFIX);
    const reason: LoginRefusal | null = principal ? null : checked === null ? (robot ? "wrong_secret" : "wrong_password") : (checked as Unusable).unusable;
    const actor = { kind: robot ? ("robot" as const) : ("user" as const), name: username, address: clientIp };
    this.events.record({ action: "login", actor, success: principal !== null, outcome: principal ? "success" : "refused", detail: reason ? { reason } : {} });
    if (!principal) throw new DomainError("Unauthorized", "invalid username or password");
    this.throttle.succeed(username, clientIp);
    const current = await this.current(username);
    if (this.recent.size > 10_000) this.recent.clear();
    if (current) this.recent.set(cacheKey, { hash: current.hash, until: Date.now() + this.cacheMs });
    return principal;
  }

  private async current(name: string): Promise<{ principal: Principal; hash: string } | null> {
    if (name.startsWith(ROBOT_PREFIX)) {
      const robot = await this.accounts.findRobot(name);
      return robot && usableRobot(robot) ? { principal: robotPrincipal(robot), hash: robot.secretHash } : null;
    }
    const user = await this.accounts.findUser(name);
    return user && !user.disabled ? { principal: userPrincipal(user), hash: user.passwordHash } : null;
  }

  /**
   * The account a token or session names, as it is now: none when it was deleted or disabled, or when its
   * credential generation moved on since (password changed, rights lost).
   */
  async byAccount(account: AccountRef, generation: number): Promise<AccountPrincipal | null> {
    const principal = account.kind === "robot" ? await this.robotById(account.id) : await this.userById(account.id);
    return principal && principal.generation === generation ? principal : null;
  }

  private async userById(id: number): Promise<AccountPrincipal | null> {
    const user = await this.accounts.findUserById(id);
    return user && !user.disabled ? userPrincipal(user) : null;
  }

  private async robotById(id: number): Promise<AccountPrincipal | null> {
    const robot = await this.accounts.findRobotById(id);
    return robot && usableRobot(robot) ? robotPrincipal(robot) : null;
  }

  /** The principal, null for a wrong password, or why the name is no usable account. */
  private async check(username: string, password: string): Promise<Principal | null | Unusable> {
    // Postgres refuses NUL in text: such a name is a failed login, never a query.
    if (textProblem(username)) return burn(password, "unknown_account");
    if (username.startsWith(ROBOT_PREFIX)) {
      const robot = await this.accounts.findRobot(username);
      if (!robot) return burn(password, "unknown_account");
      if (robot.disabled) return burn(password, "disabled");
      if (!usableRobot(robot)) return burn(password, "expired");
      if (!(await verifySecret(password, robot.secretHash))) return null;
      return robotPrincipal(robot);
    }
    const user = await this.accounts.findUser(username);
    if (!user) return burn(password, "unknown_account");
    if (user.disabled) return burn(password, "disabled");
    if (!(await verifySecret(password, user.passwordHash))) return null;
    return userPrincipal(user);
  }
}

function usableRobot(robot: { disabled: boolean; expiresAt: Date | null }): boolean {
  return !robot.disabled && (robot.expiresAt === null || robot.expiresAt.getTime() > Date.now());
}

const userPrincipal = (u: UserRow): AccountPrincipal => ({ kind: "user", name: u.username, id: u.id, generation: u.credentialGeneration, isAdmin: u.isAdmin });
const robotPrincipal = (r: RobotRow): AccountPrincipal => ({ kind: "robot", name: r.name, id: r.id, generation: r.credentialGeneration, permissions: r.permissions });

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
