// The lingering close after an early answer (src/http/lingering-close.ts): the answer arrives whole, the
// connection is closed rather than read to the end of a body of any size, a client that keeps trickling
// bytes is cut after the linger (well before the whole-request timeout), and nothing pipelined behind
// the refused request is served.
import type net from "node:net";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { rawExchange } from "../support/raw-exchange";
import { uniqueSuffix } from "../support/oci-client";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

let registry: TestRegistry;
beforeAll(async () => {
  // The defaults that matter here: requestTimeoutSeconds 120 and the 4 MiB manifest limit.
  registry = await startTestRegistry();
});
afterAll(() => registry?.stop());

/**
 * Writes `chunk` again and again (a client trickling a body), past the server's FIN (the socket is
 * half-open), until the server closes the connection.
 */
function trickle(socket: net.Socket, chunk: string | Buffer): void {
  const timer = setInterval(() => socket.writable && socket.write(chunk), 50);
  socket.once("close", () => clearInterval(timer));
}

/** The whole-request timeout is 120 s; a connection the linger closes goes well before it. */
const BEFORE_REQUEST_TIMEOUT = 60_000;

test("a manifest declared over the limit is 413, then the connection closes although the client keeps sending", async () => {
  const path = `/v2/linger/declared-${uniqueSuffix()}/manifests/big`;
  const { response } = await rawExchange(
    registry.host,
    (s) => {
      s.write(`PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${OCI_MANIFEST}\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n{`);
      trickle(s, " ");
    },
    BEFORE_REQUEST_TIMEOUT,
    { allowHalfOpen: true },
  );
  expect(response).toMatch(/^HTTP\/1\.1 413 [\s\S]*connection: close[\s\S]*"SIZE_INVALID"/i);
});

test("a chunked manifest that passes the limit is 413 in full, and a trickle after it is cut", async () => {
  const path = `/v2/linger/chunked-${uniqueSuffix()}/manifests/big`;
  const chunk = Buffer.alloc(1024 * 1024, 0x20);
  const frame = (data: Buffer) => Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from("\r\n")]);
  const { response } = await rawExchange(
    registry.host,
    (s) => {
      s.write(`PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${OCI_MANIFEST}\r\nTransfer-Encoding: chunked\r\n\r\n`);
      for (let i = 0; i < 5; i++) s.write(frame(chunk));
      trickle(s, frame(Buffer.from(" ")));
    },
    BEFORE_REQUEST_TIMEOUT,
    { allowHalfOpen: true },
  );
  const [head, body] = response.split("\r\n\r\n");
  expect(head).toMatch(/^HTTP\/1\.1 413 [\s\S]*connection: close/i);
  const length = Number(/content-length: (\d+)/i.exec(head)?.[1]);
  expect(Buffer.byteLength(body, "latin1")).toBe(length);
  expect(JSON.parse(body).errors[0].code).toBe("SIZE_INVALID");
});

test("a body trickled to a route that takes none is answered, then cut", async () => {
  const { response } = await rawExchange(
    registry.host,
    (s) => {
      s.write("GET /v2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n \r\n");
      trickle(s, "1\r\n \r\n");
    },
    BEFORE_REQUEST_TIMEOUT,
    { allowHalfOpen: true },
  );
  expect(response).toMatch(/^HTTP\/1\.1 200 /);
});

test("a request pipelined behind a refused one is not served", async () => {
  const path = `/v2/linger/pipelined-${uniqueSuffix()}/manifests/big`;
  const { response } = await rawExchange(registry.host, (s) => {
    s.write(`PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${OCI_MANIFEST}\r\nTransfer-Encoding: chunked\r\n\r\n`);
    s.write(`500001\r\n${" ".repeat(5 * 1024 * 1024 + 1)}\r\n`);
    // Once the refusal is in, finish the body and pipeline another request on the same connection.
    s.once("data", () => s.write("0\r\n\r\nGET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"));
  });
  expect(response).toMatch(/^HTTP\/1\.1 413 /);
  expect(response.match(/HTTP\/1\.1 /g)).toHaveLength(1);
});
