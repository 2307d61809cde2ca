FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY govgraph ./govgraph
RUN pip install --no-cache-dir . \
    && useradd --create-home govgraph
USER govgraph
EXPOSE 8000
CMD ["govgraph", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
