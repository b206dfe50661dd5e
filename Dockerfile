# syntax=docker/dockerfile:1
# tscache node image.
#
#   docker build -t tscache .
#   docker run --rm -p 8080:8080 --hostname cache -e ADDR=cache:8080 tscache
#
# Configuration is environment variables only (src/config/config.ts lists them all). ADDR
# must be an address other nodes and clients can reach; a host name in ADDR makes the node
# listen on 0.0.0.0:<port>. The default ADDR (127.0.0.1:8080) is only reachable from inside
# the container.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: all dependencies, compile TypeScript to dist/ ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's `prepare` (the build) would run before the sources are
# here; `npm run build` below runs it. The client package (packages/client, an npm workspace
# the node does not use) stays out of the image: npm ci skips a workspace whose folder is
# missing, and npm 10 would run its `prepare` despite --ignore-scripts.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
# The build generates the protos' TypeScript types (scripts/gen-proto-types.mjs) first.
COPY proto ./proto
COPY scripts/gen-proto-types.mjs ./scripts/
COPY src ./src
RUN npm run build

# ---- prod-deps: production dependencies only (pure JS, no install scripts needed; no
# packages/client, as above) ----
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime: compiled JS, protos, production node_modules; no npm at run time ----
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
# package.json is needed at run time: it makes dist/*.js ES modules ("type": "module").
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
# Loaded at run time relative to the compiled code (dist/protos/protos.js -> ../../proto).
COPY proto ./proto
COPY --from=build /app/dist ./dist
# /data: where DATA_DIR points in docker-compose.yml and deploy/k8s (a volume per node). A
# named volume starts as a copy of this directory, so it belongs to the node's user; without a
# volume (and without DATA_DIR) the node keeps everything in memory.
RUN mkdir /data && chown 1000:1000 /data
# The base image's unprivileged "node" user, numerically, so that Kubernetes'
# runAsNonRoot can verify it. The files stay root-owned: the node writes only to DATA_DIR.
USER 1000:1000
EXPOSE 8080
# Asks the node's own grpc.health.v1.Health/Check (address from LISTEN_ADDR/ADDR); exit 0 only when SERVING.
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "dist/healthcheck.js"]
# node is PID 1 and handles SIGTERM itself (graceful leave: hand keys to the other replicas,
# exit 0 within SHUTDOWN_TIMEOUT). It starts no child processes, so no init is needed to reap
# zombies (health checks run via exec are not its children).
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
