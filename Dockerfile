# syntax=docker/dockerfile:1
# Build stage: compile TypeScript to dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY packages/client/tsconfig.build.json ./packages/client/
COPY packages/client/src ./packages/client/src
COPY src ./src
# Builds the client package first: the server imports its wire schemas (temporal-lock-client/wire).
# Then bundles the workflow code into dist/workflow-bundles, keyed by its content, where a start
# finds it: a container (re)starts without bundling (see README, Performance).
RUN npm run build

# Runtime stage: production dependencies and compiled JavaScript only, run as the unprivileged node user.
# The image has no Temporal CLI, so it always needs TEMPORAL_ADDRESS (see docker-compose.yml).
# It listens on every interface, so it checks API keys: mount the key file (README, Security) at
# API_KEYS_FILE; without it the service refuses to start. To serve without keys instead, set
# API_KEYS_FILE to nothing and ALLOW_UNAUTHENTICATED=true, as docker-compose.yml does.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    API_KEYS_FILE=/run/secrets/lock-service-api-keys.json
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/packages/client/dist ./packages/client/dist
COPY --from=build /app/dist ./dist
# The dashboard page: plain files, nothing to build.
COPY ui ./ui
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/main.js"]
