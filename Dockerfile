# kubepg server image. Build from the repository root:
#   docker build -t kubepg:0.1.0 .
# The runtime image has no shell: only the kubepg binary, glibc and CA certificates.
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and build artifacts across builds; the binary is copied out of
# the cached target directory in the same step because cache mounts are not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p kubepg-cli --bin kubepg \
    && cp target/release/kubepg /usr/local/bin/kubepg

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /usr/local/bin/kubepg /usr/local/bin/kubepg
# Numeric so that Kubernetes' runAsNonRoot check can verify it without reading /etc/passwd.
USER 65532:65532
# 5432: PostgreSQL wire protocol; 9187: /healthz, /readyz and /metrics.
EXPOSE 5432 9187
ENTRYPOINT ["kubepg", "serve"]
