# byed in a container image.
#
# The builder stage runs the same script CI runs (install packages, build,
# run the test suite), then builds the static binary that the final stage
# ships. Use the final stage as a base, or copy the binary into your image:
#
#   COPY --from=byed /byed /byed
#   ENTRYPOINT ["/byed", "--"]
#   CMD ["/app/server"]

FROM debian:12 AS builder
WORKDIR /src
COPY . .
RUN bash .ci/install-deps \
 && cmake -S . -B build -DCMAKE_BUILD_TYPE=MinSizeRel -DBYED_STATIC=ON \
 && cmake --build build -j"$(nproc)" \
 && ctest --test-dir build -j"$(nproc)" --output-on-failure \
 && strip -o /byed build/byed

# A small Debian image with byed at /usr/local/bin/byed and python3 (the
# Deployment example serves with it), for the Kubernetes examples in
# packaging/kubernetes:  docker build --target demo -t byed-demo .
FROM debian:12-slim AS demo
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=builder /byed /usr/local/bin/byed

# The default: byed alone, to copy into your own image or run as is.
FROM scratch
COPY --from=builder /byed /byed
ENTRYPOINT ["/byed", "--"]
