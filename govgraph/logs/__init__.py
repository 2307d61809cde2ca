"""govgraph's logs: one JSON object a line (or plain text for a terminal), and one access line a request."""
