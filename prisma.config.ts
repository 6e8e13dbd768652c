import { defineConfig } from "prisma/config";

// Berth applies migrations itself (src/metadata/migrator.ts); the CLI is used only for `prisma generate`.
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
});
