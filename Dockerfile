# Chaperone's image: the package installed the way `make` installs it (pip, from this project's
# files), run as a non-root user. Envoy runs from the official envoyproxy/envoy image beside it.
#   docker build -t REGISTRY/chaperone:0.1.0 .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY ext_proc ./ext_proc
RUN python -m pip install . && rm -rf /src

# The default policies: `chaperone serve` without a config reads ./policies.
COPY policies /etc/chaperone/policies

RUN groupadd --system --gid 10001 chaperone \
    && useradd --system --uid 10001 --gid chaperone --no-create-home --shell /usr/sbin/nologin chaperone \
    && install -d -o 10001 -g 10001 -m 0700 /var/cache/chaperone
USER 10001:10001
# The compiled pattern databases (seconds of CPU at each start otherwise), built into the image:
# a read-only root filesystem reads them; on a CPU the library cannot load them for, the
# service compiles them at start as it would without.
ENV CHAPERONE_INSPECTION__CACHE_DIR=/var/cache/chaperone
RUN python -c "from ext_proc import scanning; \
scanning.configure(phone_region='US', cache_dir='/var/cache/chaperone'); scanning.prepare()"
WORKDIR /etc/chaperone

EXPOSE 9001
ENTRYPOINT ["chaperone"]
CMD ["serve"]
