import { lookup, type LookupAddress, type LookupOptions } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import { buildConnector } from "undici";
import { addressScope, literalHostScope, unbracketHost, type AddressScope } from "../kernel/addresses";

/** Scopes `allowPrivateNetworks` opens; the others stay closed whatever the configuration says. */
const PRIVATE_SCOPES: ReadonlySet<AddressScope> = new Set(["loopback", "private"]);

/** A connection Berth would not make for an upstream or a webhook: the host, the address it resolved to and why not. */
export class RefusedDestination extends Error {
  constructor(
    readonly host: string,
    readonly address: string,
    readonly scope: AddressScope,
    purpose: GuardPurpose,
    allowPrivate: boolean,
  ) {
    const where = address === host ? address : `${host} (${address})`;
    const hint = PRIVATE_SCOPES.has(scope) && !allowPrivate ? `; ${purpose.privateHint}` : "";
    super(`refused to connect to ${where} for ${purpose.label}: it is a ${scope} address${hint}`);
    this.name = "RefusedDestination";
  }
}

/** Whose traffic a guard checks, as its refusals name it, and the setting that would open private networks. */
export interface GuardPurpose {
  /** "upstream docker", "webhook 3 of project team-a". */
  label: string;
  privateHint: string;
}

/**
 * Where one upstream's traffic may go. The upstream's own address, when its URL names one literally (an IP
 * or localhost), is the operator's word and always allowed. Anything else — the addresses its host name
 * resolves to, its token realm, its redirects — must be public, or loopback or private when the upstream
 * is configured with allowPrivateNetworks; link-local (cloud metadata), unspecified, multicast and reserved
 * addresses never are. DNS answers are checked inside the connect, on the addresses actually connected to,
 * so a name that resolves to a public address for a check and a private one for the connection (DNS
 * rebinding) gets nowhere.
 */
export class NetworkGuard {
  private readonly purpose: GuardPurpose;
  private readonly allowPrivate: boolean;
  /** `protocol//host:port` of the upstream's literal address; null when its URL names a host. */
  private readonly trusted: string | null;

  /**
   * An upstream's guard, or one for URLs no operator wrote (`purpose`: a webhook a project admin configured
   * in the UI), where no address is trusted for being the URL's own.
   */
  constructor(target: { name: string; url: string; allowPrivateNetworks: boolean } | { purpose: GuardPurpose; allowPrivateNetworks: boolean }) {
    this.allowPrivate = target.allowPrivateNetworks;
    if ("purpose" in target) {
      this.purpose = target.purpose;
      this.trusted = null;
      return;
    }
    this.purpose = { label: `upstream ${target.name}`, privateHint: "set allowPrivateNetworks: true on the upstream if it may send Berth there" };
    const own = new URL(target.url);
    this.trusted = literalHostScope(own.hostname) === null ? null : endpoint(own.protocol, own.hostname, own.port);
  }

  /** Null when Berth may connect to this address; otherwise the refusal. */
  check(host: string, address: string): RefusedDestination | null {
    return this.refusal(host, address, addressScope(address));
  }

  /**
   * What can be decided from a URL alone (an IP literal, `localhost`), before any request: the only check
   * possible when an outbound proxy resolves the names, and a clearer refusal than a failed connect.
   */
  checkUrl(url: URL): RefusedDestination | null {
    const scope = literalHostScope(url.hostname);
    if (scope === null || endpoint(url.protocol, url.hostname, url.port) === this.trusted) return null;
    return this.refusal(url.hostname, url.hostname, scope);
  }

  /** An undici connector that refuses a disallowed IP literal or DNS answer before the socket connects. */
  connector(options: buildConnector.BuildOptions): buildConnector.connector {
    const direct = buildConnector(options);
    const guarded = buildConnector({ ...options, lookup: this.lookup });
    return (opts, callback) => {
      if (endpoint(opts.protocol, opts.hostname, opts.port) === this.trusted) return direct(opts, callback);
      // net.connect does not call the lookup for IP literals: those are checked here.
      const refused = isIP(opts.hostname) ? this.check(opts.hostname, opts.hostname) : null;
      if (refused) return callback(refused, null);
      guarded(opts, callback);
    };
  }

  private refusal(host: string, address: string, scope: AddressScope): RefusedDestination | null {
    if (scope === "public" || (this.allowPrivate && PRIVATE_SCOPES.has(scope))) return null;
    return new RefusedDestination(host, address, scope, this.purpose, this.allowPrivate);
  }

  private readonly lookup: LookupFunction = (hostname, options: LookupOptions, callback) => {
    lookup(hostname, { ...options, all: true }, (err, answers: LookupAddress[]) => {
      if (err) return callback(err, "", 0);
      // Every answer, not only the one used: net may try them all (happy eyeballs).
      for (const { address } of answers) {
        const refused = this.check(hostname, address);
        if (refused) return callback(refused as NodeJS.ErrnoException, "", 0);
      }
      if (options.all) callback(null, answers);
      else callback(null, answers[0].address, answers[0].family);
    });
  };
}

/** One spelling for an endpoint, from a URL's parts or undici's connect options (which drop the brackets). */
function endpoint(protocol: string, hostname: string, port: string): string {
  return `${protocol}//${unbracketHost(hostname).toLowerCase()}:${port || (protocol === "https:" ? "443" : "80")}`;
}
