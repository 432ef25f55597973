# IoT2MQTT connector image: the Go translator beside a pinned Zigbee2MQTT.
#
# The platform builds this with the legacy builder and the repository root as
# the context, so: no BuildKit features, and everything comes from this tree.
# Z2M_VERSION must equal upstream.Z2MVersion (a test in upstream/ checks it).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/translator ./cmd/translator

# Zigbee2MQTT 2.14.1 declares Node.js ^22.2.0 || ^24; its web UI needs >= 22.22.2.
FROM node:22-bookworm-slim
ARG Z2M_VERSION=2.14.1
ENV Z2M_INSTALL_DIR=/opt/zigbee2mqtt \
    IOT2MQTT_PATH=/app

RUN apt-get update \
    && apt-get install -y --no-install-recommends tini ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/*

# Install scripts are skipped: @serialport/bindings-cpp loads its shipped
# prebuilds without them, and unix-dgram (syslog output) would need a C++
# toolchain.
RUN mkdir -p /opt/zigbee2mqtt \
    && npm install --prefix /opt/zigbee2mqtt --omit=dev --ignore-scripts --no-audit --no-fund \
        "zigbee2mqtt@${Z2M_VERSION}" \
    && test "$(node -p 'require("/opt/zigbee2mqtt/node_modules/zigbee2mqtt/package.json").version')" = "${Z2M_VERSION}" \
    && npm cache clean --force

COPY --from=build /out/translator /usr/local/bin/translator
COPY entrypoint.sh /entrypoint.sh

# The platform mounts /app/shared, /app/instances and /app/.env read-only;
# Zigbee2MQTT's data lives in the container's own /app/data. The node user
# joins dialout for USB coordinators passed through to the container.
RUN chmod 0755 /entrypoint.sh \
    && usermod -aG dialout node \
    && mkdir -p /app/data \
    && chown node:node /app/data \
    && chmod 0700 /app/data

USER node
WORKDIR /app

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["translator", "health"]

ENTRYPOINT ["/usr/bin/tini", "--", "/entrypoint.sh"]
