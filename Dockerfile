# syntax=docker/dockerfile:1
#
# kube-audit-bridge container image.
#
#   docker build -t kube-audit-bridge:0.1.0 .
#   docker run --rm --read-only --tmpfs /tmp -v kab-data:/var/lib/kube-audit-bridge \
#     -v "$PWD/my-config.yaml:/etc/kube-audit-bridge/config.yaml:ro" -p 8080:8080 kube-audit-bridge:0.1.0
#
# Runs as the unprivileged `node` user (uid/gid 1000) and writes only to /var/lib/kube-audit-bridge
# (checkpoints, dedupe windows, dead-letter file: mount a volume there) and /tmp, so it runs with a
# read-only root filesystem. tini is PID 1: it forwards SIGTERM/SIGINT to node, whose handler
# stops polling, finishes in-flight deliveries within pipeline.shutdownTimeout, commits and exits 0.
# (Node itself as PID 1 would ignore SIGTERM until the bridge has installed its handler, because the
# kernel drops signals that PID 1 has no handler for.)

# An LTS line of Node.js on Debian slim. The project supports Node 20.19 and later.
ARG NODE_IMAGE=node:26-trixie-slim

# --- build: compile TypeScript with the dev dependencies ------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime dependencies only -------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime ----------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
# tini as PID 1; npm and corepack removed: not needed to run the bridge, less code to patch.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
 && mkdir -p /var/lib/kube-audit-bridge /etc/kube-audit-bridge \
 && chown 1000:1000 /var/lib/kube-audit-bridge

ENV NODE_ENV=production
WORKDIR /app
# Everything under /app stays owned by root: the bridge user can read but not change its own code.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# The shipped rule library (rules: [config/rules/*.yaml] resolves against /app) and the example config.
COPY config ./config
# Sample audit logs, for `kube-audit-bridge demo` in the image.
COPY samples ./samples

# Numeric, so that Kubernetes' runAsNonRoot can verify it without a passwd lookup.
USER 1000:1000
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/cli/main.js"]
CMD ["run", "--config", "/etc/kube-audit-bridge/config.yaml"]
