"""Persisted documents: Apollo's automatic persisted queries, and trusted documents.

- APQ: a client sends ``extensions.persistedQuery.sha256Hash`` without the
  query; if govgraph knows the hash it runs the stored document, else it
  answers ``PERSISTED_QUERY_NOT_FOUND`` and the client resends the query
  with its hash. The hash is checked at once, but the document is stored
  only after the request passed authentication, rate limits and the query
  limits (``learn``, called by the endpoint), so refused requests cannot
  grow the store; the store is bounded in bytes as well as in entries.
- Trusted documents: a manifest of documents registered ahead of time
  (``{"<sha256>": "<document>"}`` or Apollo's persisted query manifest).
  With ``trusted_only``, nothing else runs, so portals ship fixed operations.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Resolved:
    document: str | None
    """The stored document to run instead of the request's own (``None``: run the request as sent)."""
    candidate: tuple[str, str] | None = None
    """(hash, document) to store once the request has been accepted."""


AS_SENT = Resolved(None)


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def load_manifest(path: Path) -> dict[str, str]:
    """Hash → document, from either manifest format; every hash is checked against its document."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(
            f"{path}: cannot read the trusted documents manifest ({type(error).__name__})"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("operations"), list):
        pairs = [(operation.get("id"), operation.get("body")) for operation in data["operations"]]
    elif isinstance(data, dict):
        pairs = list(data.items())
    else:
        raise ValueError(f"{path}: expected an object of hash → document, or an Apollo manifest")
    documents: dict[str, str] = {}
    for index, (document_hash, document) in enumerate(pairs):
        if (
            not isinstance(document_hash, str)
            or not isinstance(document, str)
            or not _SHA256.match(document_hash)
        ):
            raise ValueError(f"{path}: entry {index} needs a lowercase sha256 hex id and a document")
        if sha256(document) != document_hash:
            raise ValueError(f"{path}: entry {index}: the hash does not match the document")
        documents[document_hash] = document
    return documents


class PersistedDocuments:
    def __init__(
        self,
        trusted: dict[str, str] | None = None,
        *,
        trusted_only: bool = False,
        max_entries: int = 10_000,
        max_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self.trusted = trusted or {}
        self.trusted_only = trusted_only
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._learned: OrderedDict[str, str] = OrderedDict()
        self._bytes = 0

    @property
    def stored_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._learned)

    def resolve(self, query: Any, extensions: Any) -> Resolved | Refusal:
        """What to run, or why the request is refused."""
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if persisted is None:
            if self.trusted_only:
                if isinstance(query, str) and sha256(query) in self.trusted:
                    return AS_SENT
                return Refusal(
                    400,
                    "PERSISTED_QUERY_NOT_ALLOWED",
                    "only trusted documents run here; send a registered hash",
                )
            return AS_SENT
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            return Refusal(400, "BAD_REQUEST", "persistedQuery needs version 1 and a sha256Hash")
        document_hash = persisted.get("sha256Hash")
        if not isinstance(document_hash, str) or not _SHA256.match(document_hash):
            return Refusal(
                400, "BAD_REQUEST", "persistedQuery.sha256Hash must be 64 lowercase hex characters"
            )
        if isinstance(query, str) and query:
            if sha256(query) != document_hash:
                return Refusal(400, "BAD_REQUEST", "provided sha does not match query")
            if self.trusted_only and document_hash not in self.trusted:
                return Refusal(400, "PERSISTED_QUERY_NOT_ALLOWED", "only trusted documents run here")
            if self.trusted_only or document_hash in self.trusted:
                return AS_SENT
            return Resolved(None, (document_hash, query))
        document = self.trusted.get(document_hash)
        if document is None and not self.trusted_only:
            document = self._learned.get(document_hash)
            if document is not None:
                self._learned.move_to_end(document_hash)
        if document is None:
            return Refusal(200, "PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
        return Resolved(document)

    def learn(self, document_hash: str, document: str) -> None:
        """Store an accepted document; the least recently used go first past either bound."""
        if sha256(document) != document_hash or document_hash in self._learned:
            return
        size = len(document.encode())
        if size > self.max_bytes:
            return
        self._learned[document_hash] = document
        self._bytes += size
        while len(self._learned) > self.max_entries or self._bytes > self.max_bytes:
            _, dropped = self._learned.popitem(last=False)
            self._bytes -= len(dropped.encode())
