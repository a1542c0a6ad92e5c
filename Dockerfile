# Dockerfile - posture's container image: built with `make` on Debian bookworm, run on
# bookworm-slim with only the runtime libraries, as a non-root numeric user.
#   make image                      (docker build -t posture:dev --build-arg VERSION=... .)
# The Deployment (manifests/base/deployment.yaml) runs `posture serve` with its flags; the
# entrypoint alone serves with the defaults (/etc/posture/tls/tls.crt|tls.key, the policy at
# /etc/posture/policy/policy.yaml, else the built-in defaults).

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential pkg-config \
      libmicrohttpd-dev libgnutls28-dev libssl-dev libjansson-dev libyaml-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the build reads: the Makefile and the sources (see .dockerignore).
COPY Makefile ./
COPY webhook/ webhook/
ARG VERSION=dev
RUN make -j"$(nproc)" BUILD=/build VERSION="${VERSION}" \
      CFLAGS="-O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2" all \
 && strip /build/posture \
 && /build/posture version

FROM debian:bookworm-slim
ARG VERSION=dev
LABEL org.opencontainers.image.title="posture" \
      org.opencontainers.image.description="Kubernetes validating admission webhook that keeps a service mesh's security posture: workload service accounts, mesh enrolment, Istio AuthorizationPolicy wildcards" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
# The runtime libraries the binary links (ldd: libmicrohttpd, GnuTLS, libcrypto, jansson,
# libyaml; their own dependencies come with them). ca-certificates: not used to verify anything
# today, kept for a --client-ca pointing at a system bundle.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libmicrohttpd12 libgnutls30 libssl3 libjansson4 libyaml-0-2 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/posture /usr/local/bin/posture
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["posture", "serve"]
