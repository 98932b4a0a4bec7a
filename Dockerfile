# icewatch's image. `docker build -t icewatch .` builds the daemon (the last stage, `runtime`);
# `--target demo` adds the emulator and the sample-table writer (moto, pyiceberg-core) that
# docker-compose.yml's Glue and seeding services run.
# Dependencies come from constraints.txt (a pip freeze of the tested environment) and install as
# wheels, so neither stage needs a compiler.

FROM python:3.11.14-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

FROM base AS builder
WORKDIR /src
RUN python -m venv /opt/venv
COPY constraints.txt pyproject.toml README.md ./
COPY service ./service
RUN pip install --no-cache-dir -c constraints.txt .

FROM builder AS demo-builder
RUN pip install --no-cache-dir -c constraints.txt ".[demo]"

FROM base AS runtime-base
# A fixed non-root uid, so volume permissions and Kubernetes/ECS runAsUser settings can name it.
RUN groupadd --system --gid 10001 icewatch \
    && useradd --system --uid 10001 --gid icewatch --home-dir /var/lib/icewatch --create-home \
       --shell /usr/sbin/nologin icewatch
# The default state store (sqlite:///icewatch-state.db) is relative to this writable directory.
WORKDIR /var/lib/icewatch
ENV HOME=/var/lib/icewatch
EXPOSE 9108

FROM runtime-base AS demo
COPY --from=demo-builder /opt/venv /opt/venv
USER 10001:10001
# The emulator and the seeder serve no /healthz; docker-compose.yml gives them their own checks.
HEALTHCHECK NONE
ENTRYPOINT ["icewatch"]
CMD ["demo"]

FROM runtime-base AS runtime
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
# No curl in slim images: a few lines of Python probe /healthz on ICEWATCH_HTTP_PORT (default 9108).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "service.healthcheck"]
# Exec form: icewatch is PID 1 and receives SIGTERM itself (it drains within 25 s, under ECS's 30 s).
ENTRYPOINT ["icewatch"]
CMD ["run"]
