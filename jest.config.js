// One jest run, three projects; files run in parallel but within a small worker budget (2-core machines).
const transform = { "^.+\\.ts$": ["@swc/jest", { jsc: { target: "es2022" } }] };
const common = { transform, testEnvironment: "node", moduleFileExtensions: ["ts", "js", "json"] };

module.exports = {
  maxWorkers: 2,
  // Integration and e2e tests start servers and daemons; e2e files raise this further where they need to.
  testTimeout: 60_000,
  globalSetup: "<rootDir>/test/support/global-setup.ts",
  globalTeardown: "<rootDir>/test/support/global-teardown.ts",
  projects: [
    { ...common, displayName: "unit", testMatch: ["<rootDir>/test/unit/**/*.test.ts"] },
    { ...common, displayName: "integration", testMatch: ["<rootDir>/test/integration/**/*.test.ts"] },
    { ...common, displayName: "e2e", testMatch: ["<rootDir>/test/e2e/**/*.test.ts"] },
  ],
};
