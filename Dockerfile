# byed in a container image.
#
# The builder stage installs what the build needs and builds the static
# binary that the final stage ships (`--build-arg BYED_TESTS=ON` also
# installs the test tools and runs the unit and integration suite, as CI
# does). Use the final stage as a base, or copy the binary into your image:
#
#   COPY --from=byed /byed /byed
#   ENTRYPOINT ["/byed", "--"]
#   CMD ["/app/server"]

FROM debian:12 AS builder
ARG BYED_TESTS=OFF
WORKDIR /src
COPY . .
RUN if [ "$BYED_TESTS" = ON ]; then bash .ci/install-deps; \
    else bash .ci/install-deps build; fi \
 && cmake -S . -B build -DCMAKE_BUILD_TYPE=MinSizeRel -DBYED_STATIC=ON \
          -DBYED_TESTS="$BYED_TESTS" \
 && cmake --build build -j"$(nproc)" --target byed \
 && if [ "$BYED_TESTS" = ON ]; then cmake --build build -j"$(nproc)" \
      && ctest --test-dir build -j"$(nproc)" --output-on-failure; fi \
 && strip -o /byed build/byed

# A small Debian image with byed at /usr/local/bin/byed and python3 (the
# Deployment example serves with it), for the Kubernetes examples in
# packaging/kubernetes (tagged as they name it):
#   docker build --target demo -t byed-demo:0.1.0 .
FROM debian:12-slim AS demo
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=builder /byed /usr/local/bin/byed

# The default: byed alone, to copy into your own image or run as is.
FROM scratch
COPY --from=builder /byed /byed
ENTRYPOINT ["/byed", "--"]
