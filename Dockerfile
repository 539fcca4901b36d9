# The bundled bot in a container (README "Docker and compose"). Configuration comes from the environment
# (DISCORD_TOKEN, ASYNCFLOW_API_KEY, ... as in config.example.toml); build: docker build -t asyncflow-tts .
FROM python:3.12-slim

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The runtime packages .ci/run installs, and no others (tests/test_deploy.py compares the two lists).
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends libopus0 \
    && rm -rf /var/lib/apt/lists/*

# The runner (bot/) runs from a checkout and imports cogs/ from it; the wheel holds only asyncflow_tts, so both
# folders are copied into the working directory and `pip install .` brings the dependencies.
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY cogs/ cogs/
RUN python -m pip install -q . && rm -rf build ./*.egg-info
COPY bot/ bot/

RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin tts \
    && mkdir /data && chown tts:tts /data
USER tts

# SQLite lives on the volume (with STORAGE_URL set to PostgreSQL, it is not used). /healthz is served on the
# metrics port ([metrics] host and port).
ENV STORAGE_SQLITE_PATH=/data/preferences.sqlite3 \
    METRICS_HOST=0.0.0.0 \
    METRICS_PORT=9100
VOLUME /data
EXPOSE 9100
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('METRICS_PORT', '9100') + '/healthz', timeout=4)"]

# SIGTERM (docker stop) stops the bot cleanly within 10 s; docker's default grace period is 10 s too.
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "bot"]
CMD ["run"]
