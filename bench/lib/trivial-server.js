// The loopback ceiling's server: plain node:http doing the least a blob server can do. Run as its own
// process (like the registries): `node trivial-server.js` prints its port on stdout.
//   GET /bytes/<n>  n bytes from one preallocated buffer, with backpressure
//   PUT /sink       reads and drops the body, 201
//   GET /small      200 with an empty body (the cheapest request)
"use strict";
const http = require("node:http");

const CHUNK = Buffer.alloc(1024 * 1024, 0x5a);

const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  if (req.method === "GET" && req.url.startsWith("/bytes/")) {
    let left = Number(req.url.slice(7));
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": left });
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void res.once("drain", pump);
      }
      res.end();
    };
    return pump();
  }
  if (req.method === "PUT" && req.url === "/sink") {
    req.on("data", () => undefined);
    req.on("end", () => {
      res.writeHead(201, { "Content-Length": 0 });
      res.end();
    });
    return;
  }
  res.writeHead(200, { "Content-Length": 0 });
  res.end();
});

server.listen(0, "127.0.0.1", () => process.stdout.write(`${server.address().port}\n`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
