# certmint operator image. Multi-stage: build a wheel, install it into a virtualenv, copy only that
# virtualenv into a slim runtime that runs as a non-root user with a read-only root filesystem.
# Pin the base by digest in release pipelines (`docker buildx imagetools inspect python:3.11-slim-bookworm`).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/certmint \
 && /opt/certmint/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/certmint/bin/pip install --no-cache-dir .

FROM ${PYTHON_IMAGE}
# The version the image says it is: tools/images/build.sh passes pyproject.toml's
# (`--build-arg CERTMINT_VERSION=...` when building by hand).
ARG CERTMINT_VERSION=unknown
LABEL org.opencontainers.image.version="${CERTMINT_VERSION}" \
      org.opencontainers.image.source="https://github.com/certmint/certmint" \
      org.opencontainers.image.description="certmint: short-lived X.509 identities for Kubernetes workloads"
COPY --from=build /opt/certmint /opt/certmint
ENV PATH=/opt/certmint/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 8080 9402
ENTRYPOINT ["certmint"]
CMD ["operator"]
