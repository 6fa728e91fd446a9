# Parley production image.
#   docker build -t parley .
#   docker run --rm -p 8000:8000 -e REDIS_URL=redis://my-redis:6379 parley
# The image runs with NODE_ENV=production, which refuses to start without REDIS_URL or
# REDIS_CLUSTER_NODES unless STORE=memory is set on purpose. Variables: docs/configuration.md

# ---- build: all dependencies, compile TypeScript to dist/ ----------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
# No dependency needs its install scripts (see "allowScripts" in package.json).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies and dist/ only, unprivileged -------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production PORT=8000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
# Code stays owned by root: the `node` user can read it, not change it.
COPY --from=build /app/dist ./dist
USER node
EXPOSE 8000
# Liveness through node itself (the slim image has no curl or wget).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/health', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node runs as PID 1 and handles SIGTERM itself (graceful shutdown within SHUTDOWN_TIMEOUT).
CMD ["node", "dist/main.js"]
