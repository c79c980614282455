# campaign-sender in a container: build with the Rust image, run on distroless.
#
#   docker build -t campaign-sender .
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/campaign" \
#     -e PILOT_STATUS_API_KEY campaign-sender campaign.csv --dry-run
#
# The campaign folder (CSV, results, lock) is a volume at /campaign; the key comes from the
# environment only. `docker stop` waits 10 s by default before SIGKILL: give it a send's worth
# (`docker stop -t 60`, or `docker run --stop-timeout 60`). See docs/deploy.md.

# The builder's Debian release must match the runtime's (glibc): bookworm and debian12.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src

# jemalloc (the binary's allocator, built from C by tikv-jemalloc-sys) needs make, which the
# slim image lacks.
RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, in a layer of their own: a change to src/ rebuilds only the crate.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

COPY src ./src
# COPY keeps the files' own times, which may be older than the placeholder build above:
# touch them so cargo rebuilds the crate instead of shipping the empty main.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && install -D -m 0755 target/release/campaign-sender /out/bin/campaign-sender \
    && mkdir -p /out/root/campaign

# glibc, libgcc and CA certificates, no shell, no package manager; runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="campaign-sender" \
      org.opencontainers.image.description="Send WhatsApp campaigns from a CSV: paced, retried, resumable, at most once." \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /out/bin/campaign-sender /usr/local/bin/campaign-sender
# The campaign folder, owned by the runtime user: a new named volume mounted on it copies
# this ownership, so the run can create its results and lock there. /out/root's contents are
# copied, so --chown applies to the folder itself.
COPY --from=build --chown=65532:65532 /out/root/ /
# Numeric, so Kubernetes' runAsNonRoot can check it.
USER 65532:65532
# Relative paths (the CSV, the default results beside it, campaign and senders files) are
# read here: mount the campaign folder on it.
WORKDIR /campaign
# The ledger (caps, ALREADY_SENT, held waits across runs) in the mounted folder, not in the
# container's layer (dropped with --rm) nor under a home that --user may not have.
ENV CAMPAIGN_SENDER_LEDGER=/campaign/ledger.sqlite3
# The binary is PID 1 and handles SIGTERM itself (finish the send in flight, record it,
# exit 3); it starts no children, so no init process is needed.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/campaign-sender"]
CMD ["--help"]
