"""One interpretation of each operation: what it selects, what it costs, what is decided, as it runs."""
