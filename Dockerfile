# syntax=docker/dockerfile:1
#
# jobfleet worker image: one image for the daemon (`worker run`, the default)
# and for the operator commands (`worker queues`, `worker dlq ...`, `worker jobs ...`).
#
#   docker build -t jobfleet/worker .
#   docker run --rm -p 9090:9090 jobfleet/worker            # worker run
#   docker run --rm jobfleet/worker dlq --help              # operator commands
#
# Dependency caching: cargo-chef. The `planner` stage reduces the workspace to
# a recipe (manifests + lockfile, no sources); `builder` first compiles only the
# dependencies from that recipe, in a layer that stays cached until Cargo.toml
# or Cargo.lock change, then compiles our crates on top. A dummy-main trick would
# need to know every workspace member's targets; cargo-chef derives them.
#
# Runtime: distroless cc (glibc, libgcc, CA certificates; no shell, no package
# manager), numeric non-root UID 65532, nothing written to the root
# filesystem, so it runs with readOnlyRootFilesystem: true. Mount an emptyDir at
# /tmp if a handler needs scratch space.

# Base images pinned by digest (tag kept for readability): a rebuild uses the exact bytes that were
# reviewed; Dependabot (docker ecosystem) proposes digest bumps.
FROM rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1 AS chef
# cmake + nasm: libjpeg-turbo is built from source by the turbojpeg crate (and
# cmake by aws-lc-sys); pkg-config for -sys crates' library discovery.
# Versions come with the pinned Debian release of the base image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake nasm pkg-config \
    && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# Dependencies only: cached until the manifests or Cargo.lock change.
RUN cargo chef cook --release --locked --package worker --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --package worker \
    && install -D -m 0755 target/release/worker /out/worker

# cc-debian12 is built on bookworm: builder and runtime share one glibc.
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
#checkov:skip=CKV_DOCKER_2:No shell or curl in distroless; liveness/readiness are Kubernetes probes on :9090/healthz and /readyz (Docker HEALTHCHECK is ignored by Kubernetes).
LABEL org.opencontainers.image.title="jobfleet-worker" \
      org.opencontainers.image.description="jobfleet SQS job worker (daemon and ops commands)" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/worker /usr/local/bin/worker
USER 65532:65532
# Admin HTTP: /metrics, /healthz, /readyz
EXPOSE 9090
ENTRYPOINT ["worker"]
CMD ["run"]
