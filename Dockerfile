# syntax=docker/dockerfile:1
# Portico's container image. Node 24 runs the TypeScript sources directly (type stripping), so there is no
# build step: the first stage only installs the production dependencies, the second copies them and the
# sources onto a distroless Node 24 base (no shell, no package manager) that runs as a non-root user.
#   docker build -t portico .
#   docker run --rm -p 8080:8080 -v "$PWD/examples/manifests:/manifests:ro" portico --manifests /manifests --http-port=8080

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no dependency needs an install script, and none should run at build time.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
# .dockerignore lets only package.json, package-lock.json, bin/, dataplane/ and controller/ through.
COPY . .
# 65532 is distroless's "nonroot"; numeric so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# http, https, healthz and metrics (the chart sets the ports with flags).
EXPOSE 80 443 10254
ENTRYPOINT ["/nodejs/bin/node", "controller/cli.ts"]
