"""Compiled plans: an operation turned once into data (what to fetch, what to project where, what to deny
and protect), then run as one batched fetch per department and level with rows projected straight into the
response. graphql-core stays the reference, and the fallback for what a plan does not cover."""
