# Berth's container image (used by docker-compose.yml): build with the dev dependencies, run without them.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production BERTH_LISTEN=0.0.0.0:5000 BERTH_DATA_DIR=/data
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/src/generated ./src/generated
COPY --from=build /app/prisma ./prisma
COPY package.json prisma.config.ts ./
RUN mkdir /data && chown node:node /data
EXPOSE 5000
USER node
CMD ["node", "dist/main.js", "serve"]
