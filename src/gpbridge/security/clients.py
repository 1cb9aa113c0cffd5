"""The client registry: which systems may ask for tokens, with which public keys and scopes.

A small JSON file (``<var_dir>/clients.json``) — clients are few and change rarely, and a file is
easy to review and to ship by configuration management. ``register_client`` is what
``gpbridge client register`` calls; the registry re-reads the file when it changes.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from joserfc import jwk

from gpbridge.config import Settings

DEFAULT_CLIENT_SCOPES = ("system/*.read",)


@dataclass(frozen=True)
class Client:
    client_id: str
    jwks: dict[str, Any]
    scopes: tuple[str, ...]
    name: str = ""
    redirect_uris: tuple[str, ...] = ()  # for the authorisation-code flow

    def key(self, kid: str | None) -> jwk.RSAKey | None:
        for key in self.jwks.get("keys", ()):
            if kid is not None and key.get("kid") == kid:
                return jwk.RSAKey.import_key(key)
        return None


def registry_path(settings: Settings) -> Path:
    return settings.var_path / "clients.json"


_lock = threading.Lock()
_cache: dict[Path, tuple[float, dict[str, Client]]] = {}


def load_clients(settings: Settings) -> dict[str, Client]:
    path = registry_path(settings)
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return {}
    with _lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        raw = orjson.loads(path.read_bytes())
        clients = {
            cid: Client(
                cid,
                entry.get("jwks", {"keys": []}),
                tuple(entry.get("scopes", DEFAULT_CLIENT_SCOPES)),
                entry.get("name", ""),
                tuple(entry.get("redirect_uris", ())),
            )
            for cid, entry in raw.items()
        }
        _cache[path] = (mtime, clients)
        return clients


def find_client(settings: Settings, client_id: str) -> Client | None:
    return load_clients(settings).get(client_id)


def public_jwks_from(source: str | Path | dict[str, Any], kid: str | None = None) -> dict[str, Any]:
    """A public JWKS from a JWKS/JWK JSON file or dict, or a PEM public key (kid = ``kid`` or thumbprint)."""
    if isinstance(source, dict):
        data: Any = source
    else:
        raw = Path(source).read_bytes()
        if raw.lstrip().startswith(b"-----"):
            key = jwk.RSAKey.import_key(raw)
            data = key.as_dict(private=False) | {"kid": kid or key.thumbprint()}
        else:
            data = orjson.loads(raw)
    keys = data["keys"] if "keys" in data else [data]
    public = []
    for entry in keys:
        key = jwk.RSAKey.import_key(entry)
        public.append(key.as_dict(private=False) | {"kid": entry.get("kid") or kid or key.thumbprint()})
    return {"keys": public}


def register_client(
    settings: Settings,
    client_id: str,
    public_key: str | Path | dict[str, Any],
    scopes: tuple[str, ...] = DEFAULT_CLIENT_SCOPES,
    *,
    name: str = "",
    kid: str | None = None,
    redirect_uris: tuple[str, ...] = (),
) -> Client:
    """Add or replace a client (``gpbridge client register ID --key public.pem --scope system/*.read``)."""
    jwks = public_jwks_from(public_key, kid)
    path = registry_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock:
        current = orjson.loads(path.read_bytes()) if path.exists() else {}
        current[client_id] = {
            "jwks": jwks,
            "scopes": list(scopes),
            "name": name,
            "redirect_uris": list(redirect_uris),
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(current, option=orjson.OPT_INDENT_2))
        os.replace(tmp, path)
        _cache.pop(path, None)
    return Client(client_id, jwks, tuple(scopes), name, tuple(redirect_uris))
