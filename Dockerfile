# maxent container image (see README.md, "Docker").
#   docker build -t maxent .                       CPU image: the single binary on Debian slim with OpenBLAS
#   docker build --target gpu -t maxent:gpu .      adds the Vulkan loader for WebGPU on NVIDIA GPUs
#   docker run --rm -v "$PWD/recipes:/recipes:ro" -v "$PWD/data:/data" maxent train /recipes/<recipe>.yaml
# Stage 1 compiles the binary with Deno (deno compile downloads its runtime, denort, from Deno's release host);
# the runtime stages hold the binary alone, run as a non-root user, and keep the Hub cache and run outputs in /data.

FROM denoland/deno:2.9.6 AS compile
WORKDIR /src
# Dependencies first, so source edits do not refetch npm packages.
COPY deno.json deno.lock ./
RUN deno install
COPY cli.ts mod.ts ./
COPY src/ src/
COPY scripts/ scripts/
COPY recipes/ recipes/
RUN deno task compile --output /out/maxent && /out/maxent --version

# WebGPU on NVIDIA: the Vulkan loader here; the driver and its Vulkan ICD come from the NVIDIA container toolkit at
# run time (docker run --gpus all; the "graphics" capability mounts the ICD). tfjs-node-gpu is not in the binary.
FROM debian:bookworm-slim AS gpu
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0-pthread libvulkan1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /home/maxent maxent \
 && mkdir -p /data && chown maxent:maxent /data
COPY --from=compile /out/maxent /usr/local/bin/maxent
ENV HF_HOME=/data/hf \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
VOLUME /data
WORKDIR /data
USER maxent
ENTRYPOINT ["maxent"]
CMD ["--help"]

# The default image (last stage): CPU backends (wasm / cpu with OpenBLAS matmul).
FROM debian:bookworm-slim AS runtime
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0-pthread \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /home/maxent maxent \
 && mkdir -p /data && chown maxent:maxent /data
COPY --from=compile /out/maxent /usr/local/bin/maxent
ENV HF_HOME=/data/hf
VOLUME /data
WORKDIR /data
USER maxent
ENTRYPOINT ["maxent"]
CMD ["--help"]
