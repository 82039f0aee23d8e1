# syntax=docker/dockerfile:1
# bolt-stream: Node service + OpenBolt (the maintained open-source Bolt, same CLI).

# 1. Compile the TypeScript and keep only production dependencies.
FROM node:20-bookworm-slim AS build
# better-sqlite3 compiles its native addon when no prebuilt binary can be fetched.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json app.ts server.ts ./
COPY plugins ./plugins
COPY routes ./routes
COPY services ./services
COPY schemas ./schemas
RUN npm run build && npm prune --omit=dev

# 2. Install OpenBolt (Ruby >= 3.2); native gem extensions need a compiler here only.
FROM ruby:3.3-slim-bookworm AS bolt
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && gem install openbolt --no-document \
 && rm -rf /var/lib/apt/lists/*

# 3. Runtime: Ruby + Bolt + Node, no compiler, non-root.
FROM ruby:3.3-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-client tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --create-home --home-dir /home/bolt-stream --shell /usr/sbin/nologin bolt-stream
COPY --from=bolt /usr/local/bundle /usr/local/bundle
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# History (SQLite) and the default Bolt project live here: mount a volume to keep them.
RUN mkdir -p /app/data && chown bolt-stream:bolt-stream /app/data
VOLUME ["/app/data"]
USER bolt-stream
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 BOLT_PATH=bolt
EXPOSE 3000
# tini reaps orphaned Bolt children (node as PID 1 would leave zombies) and passes SIGTERM on.
# node is started directly: npm's shell would not forward SIGTERM.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/server.js"]
