import type { Logger } from "pino";
import type { Config } from "../config";
import type { EventSink } from "../events/event-bus";
import { AccountService } from "./account-service";
import type { AccessSettings } from "./auth-settings";
import type { AccountStore } from "../metadata/account-store";
import type { WebSessionStore } from "../metadata/session-store";
import type { SigningKeyStore } from "../metadata/signing-key-store";
import type { CredentialStateSource } from "../metadata/credential-states";
import { Authenticator } from "./authenticator";
import { OPEN_AUTHORIZER, TokenAuthorizer, type Authorizer } from "./authorizer";
import { LoginThrottle } from "./login-throttle";
import { AccessPolicy } from "./policy";
import { KeyRing } from "./signing-keys";
import { TokenService } from "./tokens";
import { WebSessions } from "./sessions";

/** Everything auth, assembled from the config: when auth is off, only the open authorizer. */
export interface AuthComponents {
  authorizer: Authorizer;
  accounts: AccountService;
  /** Null when auth is off. */
  token: { tokens: TokenService; authenticator: Authenticator; policy: AccessPolicy; keys: KeyRing; sessions?: WebSessions } | null;
}

export async function createAuth(
  config: Config,
  stores: { accounts: AccountStore; signingKeys: SigningKeyStore; webSessions: WebSessionStore },
  /** Where access tokens' accounts are checked on every request: a cache kept fresh by the database. */
  credentialStates: CredentialStateSource,
  events: EventSink,
  logger: Logger,
  /** Project creation, default visibility and token lifetime as set now (configured, or changed in the UI). */
  access: AccessSettings,
  options: { isMirrored?: (repository: string) => Promise<boolean>; anonymousMirrorPull?: boolean } = {},
): Promise<AuthComponents> {
  const store = stores.accounts;
  const accounts = new AccountService(store, () => access.defaultPublic);
  if (!config.auth.enabled) return { authorizer: OPEN_AUTHORIZER, accounts, token: null };

  const generated = await accounts.bootstrapAdmin(config.auth.adminPassword);
  if (typeof generated === "string") {
    // Printed once, on the first start only; it is not stored anywhere in clear.
    logger.warn({ username: "admin", banner: true }, `created the first admin account; its generated password is: ${generated}`);
  }
  const keys = await KeyRing.open(stores.signingKeys, { keyFile: config.auth.signingKeyFile, retainSeconds: config.auth.refreshTokenTtlSeconds });
  const tokens = new TokenService(keys, {
    issuer: config.auth.issuer,
    service: config.auth.service,
    ttlSeconds: () => access.tokenTtlSeconds,
    refreshTtlSeconds: config.auth.refreshTokenTtlSeconds,
    clockSkewSeconds: config.auth.clockSkewSeconds,
  }, credentialStates);
  const throttle = new LoginThrottle(config.auth.loginFailures, config.auth.loginWindowSeconds * 1000);
  const authenticator = new Authenticator(store, throttle, events);
  const policy = new AccessPolicy(store, {
    projectCreation: () => access.projectCreation,
    defaultPublic: () => access.defaultPublic,
    isMirrored: options.isMirrored,
    anonymousMirrorPull: options.anonymousMirrorPull,
  });
  const authorizer = new TokenAuthorizer(tokens, authenticator, policy, {
    service: config.auth.service,
    realm: config.externalUrl ? `${config.externalUrl}/token` : null,
  });
  const sessions = new WebSessions(stores.webSessions, config.web.sessionTtlSeconds, (account, generation) => authenticator.byAccount(account, generation));
  return { authorizer, accounts, token: { tokens, authenticator, policy, keys, sessions } };
}
