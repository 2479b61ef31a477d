# sockwired in a container.
#
#   podman build --format docker -t sockwire .      (docker build -t sockwire .)
#   podman run -d --name sockwired -v sockwire-run:/run/sockwire \
#     --cap-drop=all --cap-add=net_bind_service sockwire
#
# The daemon listens on unix:/run/sockwire/sockwired.sock (0600, owned by the
# image's user "sockwire", uid 10001): share /run/sockwire as a volume with
# the clients (run them as uid 10001, or as root on the host). Arguments
# after the image name are extra sockwired flags, e.g. a TCP listener:
#     sockwire --listen=tcp:0.0.0.0:50051 --token-file=/run/secrets/sockwire-token
#
# Capabilities: CAP_NET_BIND_SERVICE only (callers may bind ports < 1024);
# with `--cap-drop=all --cap-add=net_bind_service` podman gives it to the
# non-root daemon as an ambient capability. CAP_NET_RAW is opt-in: add
# `--cap-add=net_raw` and grant raw sockets in the policy file.
#
# --format docker keeps the HEALTHCHECK (the OCI image format has none).

ARG BASE=debian:bookworm-slim

# ---- build: the compilers and -dev packages of scripts/deps.sh ----
FROM ${BASE} AS build
COPY scripts/deps.sh /src/scripts/deps.sh
RUN /src/scripts/deps.sh build && rm -rf /var/lib/apt/lists/*
COPY . /src
# ccache in a cache mount: a rebuild after a source change recompiles only
# what changed (BuildKit and buildah both keep it between builds).
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
      -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_INSTALL_PREFIX=/usr/local \
 && cmake --build /build --target sockwired sockwire-healthcheck \
 && install -D -s /build/server/sockwired /out/usr/local/bin/sockwired \
 && install -D -s /build/deploy/healthcheck/sockwire-healthcheck /out/usr/local/bin/sockwire-healthcheck

# The seed's echo programs, for the sidecar demo's app image (target examples).
FROM build AS build-examples
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake --build /build --target echo_server echo_client \
 && install -D -s -t /out/usr/local/bin /build/examples/echo_server /build/examples/echo_client

# ---- run: the runtime libraries only ----
FROM ${BASE} AS runtime
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libc-ares2 libre2-9 libssl3 libspdlog1.10 libfmt9 ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 sockwire \
 && useradd --system --uid 10001 --gid sockwire --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin sockwire \
 && install -d -o sockwire -g sockwire -m 0750 /run/sockwire
COPY --from=build /out/ /
USER 10001:10001
VOLUME ["/run/sockwire"]
ENV SOCKWIRE_TARGET=unix:/run/sockwire/sockwired.sock
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
  CMD ["sockwire-healthcheck", "--timeout=3"]
ENTRYPOINT ["sockwired", "--listen=unix:/run/sockwire/sockwired.sock"]

# The sidecar demo's app (deploy/kubernetes/sidecar-pod.yaml): the daemon
# image plus echo_server and echo_client, which find the daemon through
# SOCKWIRE_TARGET.   podman build --target examples -t sockwire-examples .
FROM runtime AS examples
COPY --from=build-examples /out/ /
ENTRYPOINT []
CMD ["sh", "-c", "echo_server 0 | { read -r l; echo \"$l\"; p=${l##*, }; echo_client 127.0.0.1 ${p%)}; cat; }"]

# The default target: the daemon.
FROM runtime AS sockwired
