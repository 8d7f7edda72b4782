# pique-engine worker. Build: docker build -t pique-engine .
# Run:   docker run --env-file worker.env pique-engine            (see docs/operators.md)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIQUE_LOG_FORMAT=json
WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine engine
COPY detectors detectors
RUN pip install ".[postgres]" && useradd --system --uid 10001 pique
# Third-party detector plugins: add them here, e.g. RUN pip install pique-qc
USER pique
EXPOSE 9000
ENV PIQUE_METRICS_PORT=9000
# SIGTERM drains (stop pulling, finish in-flight evaluations); give it the evaluation limit to do so.
STOPSIGNAL SIGTERM
ENTRYPOINT ["pique-engine"]
CMD ["worker"]
