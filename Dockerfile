# syntax=docker/dockerfile:1
#
# One image for every Crank role. The entrypoint is the crank executable itself, so the arguments choose the
# role and the worker module, and SIGTERM reaches the mesh's own process (which drains it):
#
#   docker build -t crank-mesh .                              production dependencies, examples/hello
#   docker build --target examples -t crank-mesh:examples .   every example worker, with what they import
#
#   docker run -v crank-data:/var/lib/crank crank-mesh controller
#   docker run crank-mesh worker examples/hello --controller wss://controller:7070 --token "$TOKEN"
#
# The examples import packages that are devDependencies of crank-mesh (marked, mailparser, sharp, better-sqlite3,
# wink-nlp...), so the `examples` image keeps every dependency (about 560 MB of node_modules) and the default one
# keeps only the production ones (about 110 MB). A worker of your own: FROM crank-mesh, COPY it in, install what
# it imports (docs/deploy.md).
#
# No container has been built or run from this file: the machines it was written on cannot run one (no registry
# for base images). docs/deploy.md says what was checked instead, and how.

ARG NODE_BUILD_IMAGE=node:20-bookworm
ARG NODE_RUNTIME_IMAGE=node:20-bookworm-slim

# Every dependency, then the build. `npm ci` runs `prepare`, which builds dist/ (what .ci/run does too). The full
# Debian image has python3, make and g++ for a native addon (better-sqlite3) that has no prebuilt binary.
# The sources are copied before `npm ci` because `prepare` needs them; the npm cache mount keeps rebuilds quick.
FROM ${NODE_BUILD_IMAGE} AS build
WORKDIR /app
COPY . .
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund

# The same tree without devDependencies.
FROM build AS pruned
RUN npm prune --omit=dev --no-audit --no-fund

# What every role shares: a non-root user, a writable data directory, the container defaults, the probe.
FROM ${NODE_RUNTIME_IMAGE} AS base
# Containers listen on every interface: the controller on CRANK_PORT, a worker on a fixed port that its
# probes and its advertised address can name (one worker replica per container). Workers keep their files
# (models, databases) in CRANK_DATA_DIR/workers/<name>: mount a volume there to keep them.
ENV NODE_ENV=production \
    CRANK_HOST=0.0.0.0 \
    CRANK_PORT=7070 \
    CRANK_WORKER_LISTEN=wss://0.0.0.0:7171 \
    CRANK_DATA_DIR=/var/lib/crank
WORKDIR /app
RUN mkdir -p /var/lib/crank && chown 1000:1000 /var/lib/crank && chmod 0700 /var/lib/crank
# The `node` user of the Node images, by number so that Kubernetes' runAsNonRoot can check it. The application
# files stay root's: the process can read them, not change them.
USER 1000:1000
EXPOSE 7070 7171
STOPSIGNAL SIGTERM
# Liveness with node itself (no curl in the image): GET /healthz on the controller's port or the worker's
# listener port, whichever this container serves, over https (the CA is the mesh's own, so the probe does not
# check it: it asks whether the process answers) or plain http (--insecure); 0 on a 200. Both listeners admit a TLS
# client without a certificate to /healthz, /readyz and /metrics only (a worker refuses its WebSocket requests
# UNAUTHORIZED). The same script takes a path and ports: deploy/compose.yaml runs it for /readyz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const [path = '/healthz', ...given] = process.argv.slice(1); const env = process.env; const ports = given.length > 0 ? given : [env.CRANK_PORT || '7070', new URL(env.CRANK_WORKER_LISTEN || 'wss://0.0.0.0:7171').port]; const get = (scheme, port) => new Promise((ok, fail) => require(scheme).get({ host: '127.0.0.1', port, path, rejectUnauthorized: false, timeout: 3000 }, (r) => (r.statusCode === 200 ? ok() : fail())).on('error', fail).on('timeout', function () { this.destroy() })); Promise.any(ports.flatMap((port) => [get('https', port), get('http', port)])).then(() => process.exit(0), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/crank.js"]
CMD ["--help"]

# Every example worker, and every dependency they import.
FROM base AS examples
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/examples ./examples

# The default image: production dependencies and the example the npm package ships (examples/hello).
FROM base AS runtime
COPY --from=pruned /app/package.json /app/package-lock.json ./
COPY --from=pruned /app/node_modules ./node_modules
COPY --from=pruned /app/dist ./dist
COPY --from=pruned /app/bin ./bin
COPY --from=pruned /app/examples/hello ./examples/hello
