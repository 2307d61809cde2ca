"""Turn a bearer token into a Principal.

- Development: HS256 with a shared secret (``GOVGRAPH_JWT_SECRET``), which
  ``govgraph token`` also signs with.
- Production: RS256 or ES256, verified with a PEM public key or keys from a
  JWKS URL, with issuer and audience checked.

``algorithms=`` is always explicit, so ``alg: none`` and algorithm
confusion (HS256 signed with the RS public key) fail. Every failure is an
``Unauthenticated`` saying which check failed, never echoing the token.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import jwt

from govgraph.auth.principal import Principal
from govgraph.errors import Unauthenticated

if TYPE_CHECKING:
    from govgraph.settings import Settings

DEMO_SECRET = "govgraph-demo-secret-do-not-use-in-production"
MAX_SUBJECT = 256
REMEMBERED_TOKENS = 10_000
REMEMBER_SECONDS = 60.0
"""A verified token is remembered this long (and never past its expiry), so a client sending the same
token with every request costs one signature check a minute, not one per request."""
MAX_ROLES = 32
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")


class TokenVerifier:
    def __init__(
        self,
        *,
        algorithms: Sequence[str],
        secret: str | None = None,
        public_key: str | None = None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float = 30.0,
    ) -> None:
        if not algorithms:
            raise ValueError("at least one algorithm must be allowed")
        self.algorithms = list(algorithms)
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self._secret = secret
        self._public_key = public_key
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        """Token → its principal and when it was verified."""

    async def verify_async(self, token: str) -> Principal:
        """``verify``, off the event loop when keys may have to be fetched from the JWKS URL."""
        known = self._remembered(token)
        if known is not None:
            return known
        if self._jwks is None:
            return self.verify(token)
        return await asyncio.to_thread(self.verify, token)

    def _remembered(self, token: str) -> Principal | None:
        """A token verified a moment ago, still unexpired: its signature need not be checked again."""
        known = self._verified.get(token)
        if known is None:
            return None
        principal, verified_at = known
        now = time.time()
        expires = principal.expires_at
        if expires is None or now >= expires or now - verified_at > REMEMBER_SECONDS:
            del self._verified[token]
            return None
        return principal

    def verify(self, token: str) -> Principal:
        """The principal the token names; its ``purpose`` claim, if any, binds."""
        known = self._remembered(token)
        if known is not None:
            return known
        principal = self._verify(token)
        self._verified[token] = (principal, time.time())
        while len(self._verified) > REMEMBERED_TOKENS:
            self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> Principal:
        claims = self._decode(token)
        subject = claims["sub"]
        if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT or not subject.isprintable():
            raise Unauthenticated(f"claim sub must be printable text of at most {MAX_SUBJECT} characters")
        roles = claims.get("roles", [])
        if isinstance(roles, str):
            roles = [roles]
        if (
            not isinstance(roles, list)
            or len(roles) > MAX_ROLES
            or not all(isinstance(role, str) and _NAME.fullmatch(role) for role in roles)
        ):
            raise Unauthenticated(f"claim roles must be a list of at most {MAX_ROLES} role names")
        department = claims.get("dept")
        if department is not None and (not isinstance(department, str) or not _NAME.fullmatch(department)):
            raise Unauthenticated("claim dept must be a department id")
        purpose = claims.get("purpose")
        if purpose is not None and (not isinstance(purpose, str) or not _NAME.fullmatch(purpose)):
            raise Unauthenticated("claim purpose must be a purpose name")
        return Principal(
            subject=subject,
            department=department,
            roles=tuple(roles),
            purpose=purpose,
            authenticated=True,
            expires_at=float(claims["exp"]) + self.leeway,
        )

    def _decode(self, token: str) -> dict[str, Any]:
        options = {"require": ["exp", "sub"], "verify_aud": self.audience is not None}
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise Unauthenticated("malformed token") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.algorithms:
            raise Unauthenticated(f"algorithm {str(algorithm)[:16]} is not accepted")
        try:
            return jwt.decode(
                token,
                self._key(token),
                algorithms=self.algorithms,
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options=options,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("token not yet valid") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("wrong audience") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("wrong issuer") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("signature does not verify") from None
        except jwt.MissingRequiredClaimError as error:
            raise Unauthenticated(f"claim {error.claim} is required") from None
        except jwt.InvalidAlgorithmError:
            raise Unauthenticated("algorithm is not accepted") from None
        except (jwt.InvalidKeyError, jwt.PyJWKClientError):
            raise Unauthenticated("no key verifies this token") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("malformed token") from None

    def _key(self, token: str) -> Any:
        if self._jwks is not None:
            return self._jwks.get_signing_key_from_jwt(token).key
        if self._public_key is not None:
            return self._public_key
        if self._secret is not None:
            return self._secret
        raise Unauthenticated("no verification key is configured")


def issue_token(
    secret: str,
    *,
    subject: str,
    roles: Sequence[str],
    department: str | None,
    purpose: str | None = None,
    ttl: datetime.timedelta = datetime.timedelta(hours=8),
    algorithm: str = "HS256",
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    now = datetime.datetime.now(datetime.UTC)
    claims: dict[str, Any] = {"sub": subject, "roles": list(roles), "iat": now, "nbf": now, "exp": now + ttl}
    if department is not None:
        claims["dept"] = department
    if purpose is not None:
        claims["purpose"] = purpose
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm=algorithm)


def verifier_for(settings: Settings) -> TokenVerifier:
    if settings.environment == "production":
        public_key = settings.jwt_public_key_file.read_text() if settings.jwt_public_key_file else None
        return TokenVerifier(
            algorithms=settings.jwt_algorithms or ASYMMETRIC_ALGORITHMS,
            public_key=public_key,
            jwks_url=settings.jwt_jwks_url,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else DEMO_SECRET
    return TokenVerifier(
        algorithms=settings.jwt_algorithms or ("HS256",),
        secret=secret,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
