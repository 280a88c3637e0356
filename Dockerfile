# The RAG service, built in stages so that the final image holds only Node, the compiled
# JavaScript and the production dependencies: no TypeScript, no dev dependencies, no compiler.
#
# Every stage starts from the same image, so the hnswlib-node addon compiled in a build stage is
# built against exactly the Node (major version and ABI) that loads it at run time.
# No `# syntax=` line: BuildKit's built-in frontend handles RUN --mount, so the build pulls no
# frontend image.
ARG NODE_IMAGE=node:24-bookworm-slim

# --- toolchain: what node-gyp needs to compile the hnswlib-node native addon -------------------
FROM ${NODE_IMAGE} AS toolchain
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
# node-gyp compiles against the headers shipped in the image instead of downloading them.
ENV npm_config_nodedir=/usr/local
WORKDIR /app

# --- build: every dependency (TypeScript included), then compile the NVIDIA package and src/ -----
FROM toolchain AS build
COPY package.json package-lock.json ./
COPY packages/langchain-nvidia/package.json ./packages/langchain-nvidia/
RUN --mount=type=cache,target=/root/.npm \
  npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY packages/langchain-nvidia/tsconfig.build.json ./packages/langchain-nvidia/
COPY packages/langchain-nvidia/src ./packages/langchain-nvidia/src
COPY src ./src
COPY web ./web
COPY scripts/build-playground.ts scripts/build-contract.ts ./scripts/
# The build parses and validates the contract once (dist/openapi.json), so the service need not at each start.
COPY openapi.yaml ./
RUN npm run build

# --- prod-deps: a clean install of the production dependencies only ----------------------------
FROM toolchain AS prod-deps
COPY package.json package-lock.json ./
COPY packages/langchain-nvidia/package.json ./packages/langchain-nvidia/
RUN --mount=type=cache,target=/root/.npm \
  npm ci --omit=dev --no-audit --no-fund \
  && node -e "require('hnswlib-node')"

# --- runtime ----------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
  HOST=0.0.0.0 \
  PORT=8080 \
  DATA_DIR=/data
WORKDIR /app
# The package managers are not needed to run the service; removing them drops their bundled
# dependencies from what image scanners see.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack /opt/yarn-* \
  /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg \
  && mkdir -p /data \
  && chown node:node /data
# Application files stay owned by root: the service user can read them, not change them.
# package.json carries "type": "module"; openapi.yaml is read at start from the directory above dist/.
COPY package.json openapi.yaml ./
COPY packages/langchain-nvidia/package.json ./packages/langchain-nvidia/
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/packages/langchain-nvidia/dist ./packages/langchain-nvidia/dist
COPY --from=build /app/dist ./dist
# A new named volume mounted here starts as a copy of this directory, owned by the node user.
VOLUME ["/data"]
USER node
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/v1/health/live', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node runs as PID 1 and handles SIGTERM itself: it stops accepting requests, finishes those in
# flight and flushes the store (give it `stop_grace_period` of 30 s or more).
CMD ["node", "--enable-source-maps", "dist/server.js"]
