# The logstack image: the worker (default command) and, with another command, the codec server.
# Node 24 as the project pins it runs the TypeScript sources itself (type stripping, no loader), git for
# the GitOps remote, kubectl for `kubectl kustomize`, and the workflow bundle built at image build time
# so the worker starts without bundling (LOGSTACK_WORKFLOW_BUNDLE).
ARG NODE_VERSION=24.21.0
ARG KUBECTL_VERSION=v1.36.3

FROM registry.k8s.io/kubectl:${KUBECTL_VERSION} AS kubectl

# Build stage: every locked dependency, dev ones included, to build the workflow bundle.
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build:bundle

# Final stage: production dependencies only, the bundle, and the sources the worker and the CLI import.
FROM node:${NODE_VERSION}-bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends git ca-certificates \
  && rm -rf /var/lib/apt/lists/*
COPY --from=kubectl /bin/kubectl /usr/local/bin/kubectl

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY domain ./domain
COPY workflows ./workflows
COPY activities ./activities
COPY worker ./worker
COPY client ./client
COPY config ./config
COPY codec ./codec
COPY gitops ./gitops
# Both bundles: the worker loads the untraced one unless OTEL_EXPORTER_OTLP_ENDPOINT is set (worker/bundle.ts).
COPY --from=build /app/dist/workflow-bundle.js /app/dist/workflow-bundle.untraced.js ./dist/

ENV LOGSTACK_WORKFLOW_BUNDLE=dist/workflow-bundle.js \
    LOGSTACK_KUBECTL=/usr/local/bin/kubectl \
    LOGSTACK_LOG_LEVEL=INFO \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    MALLOC_TRIM_THRESHOLD_=131072
USER node
# One process, so SIGTERM reaches the worker and it drains (npx would end at once and leave it behind).
# The MALLOC_* settings, --max-semi-space-size and --heap-growing-percent: worker/launch.ts.
CMD ["node","--max-semi-space-size=2","--heap-growing-percent=20","worker/main.ts"]
