# The qaqpa command line in a small image, for campaigns on Kubernetes (deploy/) or any
# container runner. The shared material (rules' seeds, corpus) is not part of the image:
# mount it and point QAQPA_SHARED at it.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin qaqpa

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 qaqpa
COPY --from=build /src/target/release/qaqpa /usr/local/bin/qaqpa
USER qaqpa
ENV QAQPA_SHARED=/shared
ENTRYPOINT []
CMD ["qaqpa", "--help"]
