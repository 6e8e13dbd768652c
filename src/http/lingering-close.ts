import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/**
 * How long, and how many more body bytes, a connection closed after an early answer keeps reading and
 * discarding what the client still sends (nginx: lingering_time / lingering_timeout). Enough for a client
 * that wrote a few MiB ahead to see the answer; bounded so a trickling client cannot hold the socket.
 */
export const LINGER = { ms: 5_000, bytes: 4 * 1024 * 1024 };

const lingering = Symbol("berth.lingering");

/**
 * Ends the connection after the answer to a request whose body is still arriving (413, 405, 401… sent
 * before the body was read, or read half-way): the answer goes out with `Connection: close`, the write
 * side is shut (FIN), and the rest of the body is read and dropped for at most LINGER before the socket
 * is destroyed. Destroying at once, as before, could RST the answer away: a client still sending gets a
 * reset, and the reset can discard the response it had not yet read (RFC 9112 §9.6). Draining without
 * closing would instead serve a trickling client for as long as it likes.
 */
export function lingeringClose(req: IncomingMessage, res: ServerResponse, bounds = LINGER): void {
  const socket = req.socket as (Socket & { [lingering]?: boolean }) | null;
  if (!socket || socket.destroyed || socket[lingering]) return;
  socket[lingering] = true;
  if (res.writableEnded) return linger(req, socket, bounds);
  if (!res.headersSent) res.setHeader("Connection", "close");
  else if (res.getHeader("Connection") !== "close") {
    // Too late to announce the close: end the connection once this answer is out.
    res.once("finish", () => linger(req, socket, bounds));
    return;
  }
  // Node ends a `Connection: close` response's socket with destroySoon() (end, then destroy when flushed);
  // for this socket alone that destroy becomes the bounded linger.
  socket.destroySoon = () => linger(req, socket, bounds);
}

/** True for a request that arrived (pipelined) on a connection that is lingering: it must not be served. */
export function arrivedWhileLingering(req: IncomingMessage): boolean {
  return (req.socket as (Socket & { [lingering]?: boolean }) | null)?.[lingering] === true;
}

function linger(req: IncomingMessage, socket: Socket, bounds: typeof LINGER): void {
  if (socket.destroyed) return;
  socket.end();
  if (req.complete) {
    // Nothing more is owed to us: close as Node would have.
    if (socket.writableFinished) socket.destroy();
    else socket.once("finish", () => socket.destroy());
    return;
  }
  const stop = () => socket.destroy();
  const timer = setTimeout(stop, bounds.ms);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
  let discarded = 0;
  countPushed(req, (n) => {
    discarded += n;
    if (discarded > bounds.bytes) stop();
  });
  // The body has been left unread (Node dumps it once the answer is finished); make sure it flows.
  req.resume();
  req.once("end", () => (socket.writableFinished ? stop() : socket.once("finish", stop)));
}

/**
 * Counts request body bytes as the HTTP parser hands them over, without consuming the stream (a 'data'
 * listener would switch it to flowing mode under the handler's feet). Several parts of a request watch its
 * bytes (metrics, the body limit, the minimum rate, a linger): `push` is wrapped once per request and each
 * chunk visits the watchers in turn, rather than running one wrapper inside another per watcher.
 */
export function countPushed(req: IncomingMessage, onBytes: (n: number) => void): void {
  const known = watchers.get(req);
  if (known) return void known.push(onBytes);
  const list = [onBytes];
  watchers.set(req, list);
  const push = req.push;
  req.push = function (chunk: unknown, encoding?: BufferEncoding) {
    if (chunk) {
      const n = typeof chunk === "string" ? Buffer.byteLength(chunk, encoding) : (chunk as Uint8Array).length;
      for (const watch of list) watch(n);
    }
    return push.call(this, chunk, encoding);
  };
}

const watchers = new WeakMap<IncomingMessage, Array<(n: number) => void>>();
