"""The server's signing key: an RSA key pair generated on first start into ``<var_dir>/keys/``.

The ``kid`` is the key's RFC 7638 thumbprint, so it is stable for the key and changes with it.
Rotation: drop a new ``signing.pem`` in place and move the old public key to ``previous.jwk.json``;
tokens signed by either verify until they expire (both are published in the JWKS).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import orjson
from joserfc import jwk

from gpbridge.config import Settings

_lock = threading.Lock()
_cache: dict[Path, jwk.RSAKey] = {}


def key_dir(settings: Settings) -> Path:
    return settings.var_path / "keys"


def signing_key(settings: Settings) -> jwk.RSAKey:
    """The private key, loaded once per process (generated, 0600, when absent)."""
    path = key_dir(settings) / "signing.pem"
    with _lock:
        key = _cache.get(path)
        if key is None:
            key = _load_or_generate(path)
            _cache[path] = key
        return key


def _load_or_generate(path: Path) -> jwk.RSAKey:
    if path.exists():
        key = jwk.RSAKey.import_key(path.read_bytes())
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = jwk.RSAKey.generate_key(2048, private=True)
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key.as_pem(private=True))
        os.replace(path.with_suffix(".tmp"), path)  # atomic: two workers never see half a key
        key = jwk.RSAKey.import_key(path.read_bytes())
    kid = key.thumbprint()
    return jwk.RSAKey.import_key(key.as_dict(private=True), parameters={"kid": kid, "use": "sig"})


def public_jwks(settings: Settings) -> dict[str, Any]:
    """What ``GET /oauth2/jwks`` publishes: the current public key and any previous one."""
    keys = [signing_key(settings).as_dict(private=False)]
    previous = key_dir(settings) / "previous.jwk.json"
    if previous.exists():
        keys.append(orjson.loads(previous.read_bytes()))
    return {"keys": keys}


def verification_keys(settings: Settings) -> jwk.KeySet:
    return jwk.KeySet.import_key_set(public_jwks(settings))  # type: ignore[arg-type]
