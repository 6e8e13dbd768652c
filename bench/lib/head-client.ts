// HEAD requests over raw keep-alive HTTP/1.1 connections. undici closes the connection after every HEAD
// (a guard against servers that send a body anyway) and node:http costs the load generator several times
// more CPU per request than undici; a HEAD answer has no body, so framing it by hand is exact and cheap:
// read up to the blank line, take the status code, reuse the socket.
import net from "node:net";

interface Waiter {
  resolve(status: number): void;
  reject(err: Error): void;
}

class Connection {
  private buffered = "";
  private waiter: Waiter | null = null;
  readonly socket: net.Socket;

  constructor(host: string, port: number, onGone: (c: Connection) => void) {
    this.socket = net.connect({ host, port, noDelay: true });
    this.socket.setEncoding("latin1");
    this.socket.on("data", (chunk: string) => {
      this.buffered += chunk;
      const end = this.buffered.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = this.buffered.slice(0, end);
      this.buffered = this.buffered.slice(end + 4);
      const w = this.waiter;
      this.waiter = null;
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? NaN);
      if (/\r\nconnection:\s*close/i.test(head)) this.socket.end();
      w?.resolve(status);
    });
    const fail = (err: Error) => {
      onGone(this);
      const w = this.waiter;
      this.waiter = null;
      w?.reject(err);
    };
    this.socket.on("error", fail);
    this.socket.on("close", () => fail(new Error("connection closed")));
  }

  head(hostHeader: string, path: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.socket.write(`HEAD ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nUser-Agent: berth-bench\r\nAccept: */*\r\n\r\n`);
    });
  }
}

export class HeadClient {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly hostname: string;
  private readonly port: number;

  constructor(private readonly host: string) {
    const i = host.lastIndexOf(":");
    this.hostname = host.slice(0, i);
    this.port = Number(host.slice(i + 1));
  }

  /** HEAD path on an idle connection (a new one when none is idle) → the status code. */
  async head(path: string): Promise<number> {
    const conn = this.idle.pop() ?? this.open();
    const status = await conn.head(this.host, path);
    if (!conn.socket.destroyed && conn.socket.writable) this.idle.push(conn);
    return status;
  }

  private open(): Connection {
    const c = new Connection(this.hostname, this.port, (gone) => {
      this.all.delete(gone);
      const at = this.idle.indexOf(gone);
      if (at !== -1) this.idle.splice(at, 1);
    });
    this.all.add(c);
    return c;
  }

  close(): void {
    for (const c of this.all) c.socket.destroy();
    this.all.clear();
    this.idle.length = 0;
  }
}
