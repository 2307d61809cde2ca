FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY govgraph ./govgraph
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 govgraph \
    && mkdir -p /var/lib/govgraph /var/log/govgraph \
    && chown govgraph:govgraph /var/lib/govgraph /var/log/govgraph
# The audit journal (records kept while the store is down) and logs are the only writes.
ENV GOVGRAPH_AUDIT_SPOOL=/var/lib/govgraph/audit-spool.jsonl
WORKDIR /var/lib/govgraph
USER govgraph
EXPOSE 8000
CMD ["govgraph", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
