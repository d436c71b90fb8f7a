# syntax=docker/dockerfile:1
# The single `storefront` image: every role runs from it as `storefront <role>`.
#   docker build -t storefront:dev .
# Multi-stage: a Debian Rust toolchain builds the release binary and Node.js builds the web shop
# (web/); the runtime is distroless (glibc, CA certificates, no shell) and runs as the non-root
# user 65532. The shop's files are in /usr/share/storefront/web: the gateway serves them when
# STOREFRONT_GATEWAY__WEB_DIR names that folder.

FROM node:22-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY web/index.html web/vite.config.ts web/tsconfig.json ./
COPY web/public public
COPY web/src src
RUN npm run build

FROM rust:1-bookworm AS build
# librdkafka and aws-lc are built from source by their -sys crates.
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake make gcc g++ perl pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Every workspace member's manifest must be present for cargo to load the workspace.
COPY Cargo.toml Cargo.lock ./
COPY proto proto
COPY contracts contracts
COPY services services
COPY migrations migrations
COPY operator operator
COPY crds crds
COPY charts charts
COPY tests tests
COPY bench bench
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p storefront-cli \
    && cp target/release/storefront /storefront \
    && cp /lib/*-linux-gnu/libz.so.1 /libz.so.1

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /storefront /usr/local/bin/storefront
# librdkafka links zlib dynamically; the distroless base may not ship it.
COPY --from=build /libz.so.1 /usr/lib/libz.so.1
COPY --from=web /web/dist /usr/share/storefront/web
USER 65532:65532
# gateway 3000, auth 3001 ... recommender 3011 (one role per container).
EXPOSE 3000-3011
ENTRYPOINT ["/usr/local/bin/storefront"]
CMD ["--help"]
