# syntax=docker/dockerfile:1
# Berth's container image. The build stage installs every dependency, generates the Prisma client and
# compiles TypeScript; the runtime stage keeps only production dependencies, the compiled code and the
# migrations (Berth applies them at start-up), and runs as an unprivileged user.
#
#   docker build -t berth .
#   docker run -p 5000:5000 -v berth-data:/var/lib/berth berth          # embedded database, blobs on the volume
#   docker compose up                                                   # Berth + PostgreSQL + MinIO
ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: nothing is downloaded from outside the npm registry (`npm run generate` needs no engine).
RUN npm install --no-audit --no-fund --ignore-scripts
COPY tsconfig.json prisma.config.ts ./
COPY prisma ./prisma
COPY src ./src
# Then production dependencies only, less the Prisma CLI (~200 MB with what it pulls in): it generates the
# client at build time, but at run time Berth applies migrations itself and needs only @prisma/client.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund --ignore-scripts \
 && npm uninstall --no-save --omit=dev --no-audit --no-fund --ignore-scripts prisma

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    BERTH_LISTEN=0.0.0.0:5000 \
    BERTH_DATA_DIR=/var/lib/berth
RUN groupadd --system --gid 10001 berth \
 && useradd --system --uid 10001 --gid berth --home-dir /var/lib/berth --shell /usr/sbin/nologin berth \
 && mkdir -p /var/lib/berth \
 && chown berth:berth /var/lib/berth
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/prisma ./prisma
USER berth
VOLUME ["/var/lib/berth"]
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["node", "dist/ops/healthcheck-probe.js"]
ENTRYPOINT ["node", "dist/main.js"]
CMD ["serve"]
