"""Every gpbridge setting in one place.

Settings come from environment variables named ``GPBRIDGE_<FIELD>`` (upper case) and may be
overridden by CLI flags. No other module reads ``os.environ``: they receive a ``Settings``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_DATABASE = "sqlite:///var/gpbridge.db"


@dataclass(frozen=True)
class Settings:
    #: Where resources live: ``sqlite:///path/to.db`` (embedded default) or ``postgresql://...``.
    database: str = DEFAULT_DATABASE
    #: Interface and port ``gpbridge serve`` listens on.
    host: str = "127.0.0.1"
    port: int = 8080
    #: Public base URL used in Location headers and Bundle links; derived from the request when empty.
    base_url: str = ""
    #: Largest request body accepted, in bytes (413 beyond it).
    max_body_bytes: int = 50 * 1024 * 1024
    #: Deepest JSON nesting accepted in a resource (guards against stack exhaustion).
    max_json_depth: int = 64
    #: Default and maximum page sizes for search and history.
    default_page_size: int = 50
    max_page_size: int = 1000
    #: Connections in the PostgreSQL pool.
    pool_size: int = 8
    #: How request handlers call the store: ``inline`` on the event loop, ``threads`` through the
    #: thread pool, or ``auto`` (the store's own choice: inline for SQLite and for PostgreSQL, where
    #: hopping threads cost more CPU in GIL hand-offs than overlapping requests saved, docs/postgresql.md).
    #: ``threads`` suits a PostgreSQL far enough away that its round trips dominate a request.
    store_calls: str = "auto"
    #: Validation mode for writes: strict (reject on error), lenient (store, return warnings), off.
    validation: str = "strict"
    #: Resource types that must claim a UK Core profile (comma-separated, or ``*`` for all).
    validation_require_ukcore: str = ""
    #: Development mode: security policy allows everything (must be explicit; warned on every start).
    insecure_dev: bool = False
    #: Directory for ``--demo`` data and other runtime files.
    var_dir: str = "var"
    #: Test-only: the PostgreSQL DSN the store suite runs against (set by .ci/run).
    test_postgres: str = ""
    #: Server worker processes for ``serve``; each opens its own connections (SQLite WAL allows
    #: concurrent readers; writers queue on the database's write lock).
    workers: int = 1
    #: SQLite ``synchronous`` pragma. NORMAL (default) in WAL mode never loses or half-applies a
    #: committed transaction when the *process* dies; FULL also survives power loss, at a cost per commit.
    sqlite_synchronous: str = "NORMAL"
    #: Person matching (identity/): link records of one person; scores above ``identity_upper``
    #: link automatically, between the thresholds go to the review queue, below make a new person.
    identity_linkage: bool = True
    identity_upper: float = 0.95
    identity_lower: float = 0.30
    identity_prior: float = 1e-5
    #: Requests per second per client on the PDS-compatible API (0: no limit).
    pds_rate_limit: float = 0.0
    #: Access tokens this server issues (security/tokens.py): issuer, audience, lifetime in seconds.
    token_issuer: str = "urn:gpbridge"
    token_audience: str = "urn:gpbridge:fhir"
    token_ttl: int = 300
    #: An external OIDC provider (CIS2-style): issuer, its JWKS (file path or JSON), our audience,
    #: and the SMART scopes given to its staff tokens that carry none.
    oidc_issuer: str = ""
    oidc_jwks: str = ""
    oidc_audience: str = ""
    oidc_default_scopes: str = "user/*.read user/*.write"
    #: Browser login at the external OIDC provider (authorisation code + PKCE): our client id there
    #: (defaults to ``oidc_audience``), its secret when the provider wants one (client_secret_post),
    #: the scopes asked for (CIS2: ``nationalrbacaccess`` brings the role profiles), and the
    #: callback URL registered at the provider (derived from ``base_url`` or the request when empty).
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: str = "openid profile nationalrbacaccess"
    oidc_redirect_uri: str = ""
    #: Lifetime in seconds of a web-view login session (a signed, HttpOnly cookie).
    session_ttl: int = 3600
    #: National RBAC role codes that make a user a privacy officer: read and search the audit.
    privacy_officer_roles: str = "R8008"
    #: The built-in identity provider's login page (demo users): demos only, never production.
    builtin_idp: bool = False
    #: Requests per minute per client before 429 TOO_MANY_REQUESTS (0: no limit).
    rate_limit_per_minute: int = 600
    #: TLS for ``serve``: certificate and key (PEM) paths; empty serves plain HTTP.
    tls_cert: str = ""
    tls_key: str = ""
    #: Addresses of the SSP/proxy allowed to present GP Connect consumer JWTs (comma-separated).
    gpconnect_trusted_proxies: str = ""
    #: HL7 v2 senders ``gpbridge mllp`` accepts: ``APP^FACILITY=client-id@address[,address...]``
    #: entries (MSH-3^MSH-4, a registered client, the IPs/CIDR networks it sends from) separated by
    #: ``;`` or new lines, or the path of a file of them (security/senders.py). Empty: none.
    mllp_senders: str = ""
    #: Write a hash-chained AuditEvent for every interaction.
    audit: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(f"GPBRIDGE_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _coerce(raw, f.type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def var_path(self) -> Path:
        return Path(self.var_dir)


def _coerce(raw: str, annotation: Any) -> Any:
    kind = str(annotation)
    if kind == "int":
        return int(raw)
    if kind == "bool":
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind == "float":
        return float(raw)
    return raw
