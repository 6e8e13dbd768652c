import { lookup, type LookupAddress, type LookupOptions } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import { buildConnector } from "undici";
import { addressScope, literalHostScope, type AddressScope } from "../kernel/addresses";

/** Scopes `allowPrivateNetworks` opens; the others stay closed whatever the configuration says. */
const PRIVATE_SCOPES: ReadonlySet<AddressScope> = new Set(["loopback", "private"]);

/** A connection Berth would not make for an upstream: the host, the address it resolved to and why not. */
export class RefusedDestination extends Error {
  constructor(
    readonly host: string,
    readonly address: string,
    readonly scope: AddressScope,
    upstream: string,
    allowPrivate: boolean,
  ) {
    const where = address === host ? address : `${host} (${address})`;
    const hint = PRIVATE_SCOPES.has(scope) && !allowPrivate ? "; set allowPrivateNetworks: true on the upstream if it really lives there" : "";
    super(`refused to connect to ${where} for upstream ${upstream}: it is a ${scope} address${hint}`);
    this.name = "RefusedDestination";
  }
}

/**
 * Where one upstream's traffic may go: public addresses, and loopback or private ones only when the
 * upstream is configured with allowPrivateNetworks. Link-local (cloud metadata), unspecified, multicast and
 * reserved addresses are never allowed. The check runs on the address actually connected to — a DNS answer
 * is checked inside the connect, so a name that resolves to a public address for a check and to a private
 * one for the connection (DNS rebinding) does not get through.
 */
export class NetworkGuard {
  constructor(
    private readonly upstream: string,
    private readonly allowPrivate: boolean,
  ) {}

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
    return scope === null ? null : this.refusal(url.hostname, url.hostname, scope);
  }

  private refusal(host: string, address: string, scope: AddressScope): RefusedDestination | null {
    if (scope === "public" || (this.allowPrivate && PRIVATE_SCOPES.has(scope))) return null;
    return new RefusedDestination(host, address, scope, this.upstream, this.allowPrivate);
  }

  /** An undici connector that refuses a disallowed IP literal or DNS answer before the socket connects. */
  connector(options: buildConnector.BuildOptions): buildConnector.connector {
    const connect = buildConnector({ ...options, lookup: this.lookup });
    return (opts, callback) => {
      // net.connect does not call the lookup for IP literals: those are checked here.
      const refused = isIP(opts.hostname) ? this.check(opts.hostname, opts.hostname) : null;
      if (refused) return callback(refused, null);
      connect(opts, callback);
    };
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
