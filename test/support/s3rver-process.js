// Runs s3rver (an S3-compatible server keeping objects in a directory) for the tests, in a process of its
// own so that a test can kill it like a crashed object store and start it again on the same port and data.
// Usage: node s3rver-process.js <directory> <port or 0> <bucket>[,<bucket>...]
"use strict";
const S3rver = require("s3rver");

const [directory, port, buckets] = process.argv.slice(2);
const server = new S3rver({
  address: "127.0.0.1",
  port: Number(port),
  directory,
  silent: true,
  vhostBuckets: false,
  configureBuckets: buckets.split(",").map((name) => ({ name })),
});
server.run().then(
  (address) => process.stdout.write(`listening ${address.port}\n`),
  (err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
  },
);
process.on("SIGTERM", () => process.exit(0));
