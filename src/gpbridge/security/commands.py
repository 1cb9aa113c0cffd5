"""What the CLI calls for security (``cli.py`` stays a thin Typer layer over these).

gpbridge token --client ID | --user USER [--scope "..."]   -> idp.mint_token_command
gpbridge client register ID --key public.pem [--scope ...] -> register_client_command
gpbridge audit verify                                        -> audit_verify_command
"""

from __future__ import annotations

from pathlib import Path

from gpbridge.config import Settings
from gpbridge.security.audit_chain import ensure_table, verify_audit_chain
from gpbridge.security.clients import DEFAULT_CLIENT_SCOPES, register_client
from gpbridge.security.idp import mint_token_command
from gpbridge.store import open_store

__all__ = ["audit_verify_command", "mint_token_command", "register_client_command"]


def register_client_command(
    settings: Settings,
    client_id: str,
    key: Path,
    scopes: tuple[str, ...] = (),
    kid: str | None = None,
    name: str = "",
) -> str:
    client = register_client(settings, client_id, key, scopes or DEFAULT_CLIENT_SCOPES, kid=kid, name=name)
    kids = ", ".join(k["kid"] for k in client.jwks["keys"])
    return f"registered {client_id} (kid {kids}) with scopes {' '.join(client.scopes)}"


def audit_verify_command(settings: Settings) -> tuple[int, str]:
    """(exit code, report text): 0 when the chain is intact, 1 when it is broken."""
    store = open_store(settings.database, settings)
    try:
        ensure_table(store)
        report = verify_audit_chain(store)
    finally:
        store.close()
    return (0 if report.ok else 1), report.text()
