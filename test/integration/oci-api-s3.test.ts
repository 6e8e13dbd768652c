// The whole OCI API suite of oci-api.test.ts again, with blobs on S3: every registry it starts gets its own
// S3-compatible server (s3rver) on 127.0.0.1 through startTestRegistry's $BERTH_TEST_STORAGE default.
const previous = process.env.BERTH_TEST_STORAGE;
process.env.BERTH_TEST_STORAGE = "s3";
afterAll(() => {
  if (previous === undefined) delete process.env.BERTH_TEST_STORAGE;
  else process.env.BERTH_TEST_STORAGE = previous;
});

// eslint-disable-next-line @typescript-eslint/no-require-imports
require("./oci-api.test");
