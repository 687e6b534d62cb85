# syntax=docker/dockerfile:1
# accountd container image: dependencies cached by cargo-chef, a slim non-root runtime.

# The Cargo profile the binary is built with: `production` (fat LTO, one codegen unit) is what
# ships; `--build-arg CARGO_PROFILE=release` builds several times faster for a quick check.
ARG CARGO_PROFILE=production

FROM rust:1.95-slim-bookworm AS chef
# make builds jemalloc, the global allocator (tikv-jemalloc-sys compiles it from its bundled
# source; the image's gcc does the rest). Debian's current package is what we want.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --locked --version 0.1.71
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ARG CARGO_PROFILE
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --profile "$CARGO_PROFILE" --locked --recipe-path recipe.json
COPY . .
RUN cargo build --profile "$CARGO_PROFILE" --locked --bin accountd

FROM debian:bookworm-slim AS certificates
# CA certificates for outbound HTTPS (webhooks, OIDC providers): Debian's current bundle, so
# the version is not pinned. The runtime takes the bundle file only, not the package and the
# openssl it depends on.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

FROM debian:bookworm-slim AS runtime
# The user's home (the working directory) stays root's: the data folder is the only place the
# server can write.
RUN groupadd --system --gid 10001 accountd \
    && useradd --system --uid 10001 --gid accountd --home-dir /var/lib/accountd --no-create-home accountd \
    && mkdir -p /var/lib/accountd/data \
    && chown accountd:accountd /var/lib/accountd/data
COPY --from=certificates /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ARG CARGO_PROFILE
COPY --from=builder /app/target/$CARGO_PROFILE/accountd /usr/local/bin/accountd
USER 10001:10001
WORKDIR /var/lib/accountd
# Point DATABASE_URL at PostgreSQL in production; the SQLite default keeps its file in the
# (volume-mountable) working directory. The management listener (/metrics) binds every address
# so a scraper can reach it: publish 9464 to the monitoring network only, never publicly.
ENV ACCOUNTD_LISTEN=0.0.0.0:8080 \
    ACCOUNTD_MANAGEMENT_LISTEN=0.0.0.0:9464 \
    DATABASE_URL=sqlite:///var/lib/accountd/data/accountd.db?mode=rwc \
    ACCOUNTD_LOG_FORMAT=json
EXPOSE 8080 9464
VOLUME ["/var/lib/accountd/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["accountd", "healthcheck"]
ENTRYPOINT ["accountd"]
CMD ["serve"]
