"""A small external OpenID Connect provider for tests, CIS2-shaped, served on 127.0.0.1 by uvicorn.

It has its own RSA key and JWKS, discovery, an authorisation endpoint that signs the user in at
once (no page), a token endpoint that checks the code, redirect URI, client and PKCE verifier,
and UserInfo with the CIS2 role profiles. ``FakeIdp.misbehave`` makes the next ID tokens wrong
in one chosen way (issuer, audience, expiry, nonce, signature) so the relying party's checks can
be seen to work.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from joserfc import jwk, jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from gpbridge.security.authcode import s256
from serving_helpers import serving

CLIENT_ID = "gpbridge-test"

# A CIS2 user with two role profiles; the one selected at login is R8000 at practice A (Y12345).
CIS2_USER: dict[str, Any] = {
    "sub": "910000000001",
    "name": "Dr Jo Bloggs",
    "nhsid_useruid": "910000000001",
    "selected_roleid": "900000000101",
    "nhsid_nrbac_roles": [
        {"person_roleid": "900000000101", "org_code": "Y12345", "role_name": "Clinical Practitioner Access Role",
         "role_code": "S8000:G8000:R8000"},
        {"person_roleid": "900000000102", "org_code": "Y23456", "role_name": "Admin",
         "role_code": "S8000:G8001:R8008"},
    ],
}  # fmt: skip


@dataclass
class FakeIdp:
    url: str = ""
    key: Any = field(default_factory=lambda: jwk.RSAKey.generate_key(2048, parameters={"kid": "fake-1"}))
    rogue: Any = field(default_factory=lambda: jwk.RSAKey.generate_key(2048, parameters={"kid": "fake-1"}))
    user: dict[str, Any] = field(default_factory=lambda: dict(CIS2_USER))
    roles_in_id_token: bool = False  # CIS2 puts them in UserInfo; some providers in the ID token
    misbehave: dict[str, Any] = field(default_factory=dict)  # claim overrides; "sign_with": "rogue"
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> sub
    issued_nonces: list[str] = field(default_factory=list)

    def sign(self, claims: dict[str, Any], *, rogue: bool = False) -> str:
        key = self.rogue if rogue else self.key
        return jwt.encode({"alg": "RS256", "kid": self.key.kid, "typ": "JWT"}, claims, key, algorithms=["RS256"])

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.url, "aud": CLIENT_ID, "sub": self.user["sub"], "iat": now,
                                  "exp": now + 300, "nonce": nonce, "auth_time": now, "name": self.user.get("name")}  # fmt: skip
        if self.roles_in_id_token:
            claims |= {k: v for k, v in self.user.items() if k != "sub"}
        elif "selected_roleid" in self.user:
            claims["selected_roleid"] = self.user["selected_roleid"]
        overrides = {k: v for k, v in self.misbehave.items() if k != "sign_with"}
        claims |= {k: (v(claims) if callable(v) else v) for k, v in overrides.items()}
        return self.sign(claims, rogue=self.misbehave.get("sign_with") == "rogue")

    # ------------------------------------------------------------------------- endpoints
    async def discovery(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/jwks",
            "userinfo_endpoint": f"{self.url}/userinfo", "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
        })  # fmt: skip

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("response_type") != "code" or q.get("client_id") != CLIENT_ID:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge") or not q.get("nonce"):
            return JSONResponse({"error": "invalid_request", "error_description": "PKCE and nonce needed"}, 400)
        if "openid" not in q.get("scope", "").split():
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": q["nonce"], "challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"]}
        self.issued_nonces.append(q["nonce"])
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}", 302)

    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))  # no python-multipart needed
        pending = self.codes.pop(str(form.get("code")), None)
        if pending is None or form.get("redirect_uri") != pending["redirect_uri"] or form.get("client_id") != CLIENT_ID:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if s256(str(form.get("code_verifier", ""))) != pending["challenge"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE verification failed"}, 400)
        access = secrets.token_urlsafe(16)
        self.tokens[access] = self.user["sub"]
        nonce = self.misbehave.get("nonce", pending["nonce"])
        return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": 300,
                             "id_token": self.id_token(nonce)})  # fmt: skip

    async def userinfo(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse(dict(self.user))

    def asgi_app(self) -> Starlette:
        return Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery), Route("/jwks", self.jwks),
            Route("/authorize", self.authorize), Route("/token", self.token, methods=["POST"]),
            Route("/userinfo", self.userinfo),
        ])  # fmt: skip


@contextmanager
def running_idp() -> Iterator[FakeIdp]:
    idp = FakeIdp()
    with serving(idp.asgi_app()) as url:
        idp.url = url
        yield idp
