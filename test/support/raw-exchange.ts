import net from "node:net";

/**
 * Sends raw bytes on a fresh connection to `host` ("127.0.0.1:PORT") and resolves with everything the server
 * sent back until it closed. The limit is generous: a passing test ends when the server closes, and only a
 * server that never closes waits it out.
 */
export function rawExchange(
  host: string,
  write: (socket: net.Socket) => void,
  timeoutMs = 15_000,
  // allowHalfOpen: keep our side open (and writing) after the server's FIN, as a hostile client would.
  options: { allowHalfOpen?: boolean } = {},
): Promise<{ response: string; closedAfterMs: number }> {
  const [hostname, port] = host.split(":");
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect({ port: Number(port), host: hostname, allowHalfOpen: options.allowHalfOpen }, () => write(socket));
    let response = "";
    socket.on("data", (d) => (response += d.toString("latin1")));
    socket.on("error", () => undefined);
    socket.on("close", () => resolve({ response, closedAfterMs: Date.now() - started }));
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for ${timeoutMs} ms; got: ${response.slice(0, 200)}`));
    }, timeoutMs).unref();
  });
}
