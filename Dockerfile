# Builds eldercare and eldercare-sim; the runtime image holds both binaries.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p eldercare -p eldercare-sim

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/target/release/eldercare /src/target/release/eldercare-sim /usr/local/bin/
COPY config ./config
COPY simulator/scenarios ./scenarios
ENV HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
CMD ["eldercare", "serve"]
