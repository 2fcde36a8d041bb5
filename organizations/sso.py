"""The OpenID Connect client of single sign-on (R43), on Authlib.

Authorization code flow with PKCE (S256), a fresh state and nonce per sign-in kept in the
session, the provider's discovery document and keys fetched over HTTPS, and the ID token
checked for signature, issuer, audience (and authorized party), nonce and expiry before any
claim is read. The client secret is stored encrypted (Fernet, key from the environment).

Every failure raises `SignOnFailed` with a sentence for the sign-in page; the details go to
the log, never the secret or a token.
"""

import base64
import hashlib
import ipaddress
import logging
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.jose.errors import JoseError
from authlib.oidc.core import CodeIDToken
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.cache import cache

from portal import errors

log = logging.getLogger(__name__)

SCOPE = "openid email profile"
DISCOVERY_SECONDS = 300
# ID tokens signed with the provider's published keys only: never "none" (Authlib's default
# `jwt` accepts it), nor HMAC with the client secret.
ID_TOKEN = JsonWebToken(
    ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
)
# Clocks of the portal and the provider may differ by this much.
LEEWAY_SECONDS = 60


class SignOnFailed(errors.InvalidRequest):
    code = "sign_on_failed"
    default_message = (
        "Signing in through your organization's identity provider did not work. Try again, or "
        "ask your administrator."
    )


# --- The client secret at rest -------------------------------------------------------------


def _fernet() -> Fernet:
    key = settings.PORTAL_SSO_ENCRYPTION_KEY
    if not key:
        digest = hashlib.sha256(b"portal-sso-secret:" + settings.SECRET_KEY.encode()).digest()
        key = base64.urlsafe_b64encode(digest)
    return Fernet(key)


def secret_encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def secret_decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        log.error("The stored client secret cannot be decrypted (was the key changed?).")
        raise SignOnFailed(
            "The organization's sign-on needs its client secret entered again by the administrator."
        ) from exc


# --- Talking to the provider ---------------------------------------------------------------


def url_check(url: str) -> str:
    """An address the portal may call: HTTPS on a public address (plain HTTP and private
    addresses only where PORTAL_SSO_ALLOW_PRIVATE_ISSUERS allows, for tests and development),
    so that a URL typed on the Settings page cannot make the portal call its own network."""
    parts = urlsplit(url)
    local_ok = settings.PORTAL_SSO_ALLOW_PRIVATE_ISSUERS
    if parts.scheme != "https" and not (local_ok and parts.scheme == "http"):
        raise SignOnFailed("The provider's address must start with https://.")
    if not parts.hostname or parts.username or parts.password:
        raise SignOnFailed("Enter the provider's address, such as https://login.example.com.")
    if not local_ok:
        try:
            infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise SignOnFailed(f"The name {parts.hostname} could not be found.") from exc
        for info in infos:
            if not ipaddress.ip_address(info[4][0]).is_global:
                raise SignOnFailed(f"{parts.hostname} is not on a public address.")
    return url


def _get_json(url: str) -> dict:
    url_check(url)
    try:
        response = requests.get(
            url,
            timeout=settings.PORTAL_SSO_HTTP_TIMEOUT,
            allow_redirects=False,
            headers={"Accept": "application/json"},
        )
        response.raise_for_status()
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        log.warning("Provider request to %s failed: %s", url, exc)
        raise SignOnFailed(f"The provider did not answer at {url}.") from exc
    if not isinstance(body, dict):
        raise SignOnFailed(f"The provider's answer at {url} is not a JSON object.")
    return body


def discovery(issuer: str, *, fresh: bool = False) -> dict:
    """The provider's metadata (OpenID Connect Discovery), cached for a few minutes. Its
    `issuer` must be the configured one, exactly."""
    key = "sso-discovery:" + hashlib.sha256(issuer.encode()).hexdigest()
    metadata = None if fresh else cache.get(key)
    if metadata is None:
        metadata = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if metadata.get("issuer") != issuer:
            raise SignOnFailed(
                f"The provider calls itself {metadata.get('issuer') or 'nothing'}, not {issuer}."
            )
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(metadata.get(field), str):
                raise SignOnFailed(f"The provider's discovery document has no {field}.")
        cache.set(key, metadata, DISCOVERY_SECONDS)
    return metadata


def _keys(metadata: dict, *, fresh: bool = False):
    key = "sso-jwks:" + hashlib.sha256(metadata["jwks_uri"].encode()).hexdigest()
    jwks = None if fresh else cache.get(key)
    if jwks is None:
        jwks = _get_json(metadata["jwks_uri"])
        cache.set(key, jwks, DISCOVERY_SECONDS)
    return JsonWebKey.import_key_set(jwks)


@dataclass(frozen=True)
class Client:
    issuer: str
    client_id: str
    client_secret: str


def authorization_start(*, client: Client, redirect_uri: str, login_hint: str) -> tuple[str, dict]:
    """The provider's authorization URL and what the callback needs to check the answer (kept
    in the session): state, nonce and the PKCE verifier, fresh for this sign-in."""
    metadata = discovery(client.issuer)
    url_check(metadata["authorization_endpoint"])
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    session = OAuth2Session(
        client.client_id,
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )
    url, _state = session.create_authorization_url(
        metadata["authorization_endpoint"],
        state=state,
        nonce=nonce,
        code_verifier=verifier,
        login_hint=login_hint,
    )
    return url, {"state": state, "nonce": nonce, "verifier": verifier}


def id_token_claims(*, id_token: str, keys, issuer: str, client_id: str, nonce: str) -> dict:
    """The ID token's claims once its signature, issuer, audience, authorized party, nonce and
    expiry are checked (OpenID Connect Core 3.1.3.7)."""
    try:
        claims = ID_TOKEN.decode(
            id_token,
            keys,
            claims_cls=CodeIDToken,
            claims_options={
                "iss": {"essential": True, "value": issuer},
                "aud": {"essential": True, "value": client_id},
                "exp": {"essential": True},
                "iat": {"essential": True},
                "sub": {"essential": True},
            },
            claims_params={"nonce": nonce, "client_id": client_id},
        )
        claims.validate(leeway=LEEWAY_SECONDS)
    except (JoseError, ValueError) as exc:
        log.warning("ID token refused: %s", exc)
        raise SignOnFailed() from exc
    # CodeIDToken checked the nonce already; a token without one is refused too.
    if not secrets.compare_digest(str(claims.get("nonce") or ""), nonce):
        raise SignOnFailed()
    return dict(claims)


def code_exchange(*, client: Client, code: str, pending: dict, redirect_uri: str) -> dict:
    """Trade the authorization code for tokens, check the ID token, and return the person's
    claims (the user info endpoint's, for the same subject, where the token has no email)."""
    metadata = discovery(client.issuer)
    url_check(metadata["token_endpoint"])
    session = OAuth2Session(
        client.client_id,
        client.client_secret,
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )
    try:
        token = session.fetch_token(
            metadata["token_endpoint"],
            code=code,
            code_verifier=pending["verifier"],
            timeout=settings.PORTAL_SSO_HTTP_TIMEOUT,
        )
    except Exception as exc:  # Authlib raises OAuthError and requests' errors alike.
        log.warning("Token request refused: %s", type(exc).__name__)
        raise SignOnFailed() from exc
    id_token = token.get("id_token")
    if not id_token:
        raise SignOnFailed()
    check = {"issuer": client.issuer, "client_id": client.client_id, "nonce": pending["nonce"]}
    try:
        claims = id_token_claims(id_token=id_token, keys=_keys(metadata), **check)
    except SignOnFailed:
        # The provider may have rotated its keys since they were cached.
        claims = id_token_claims(id_token=id_token, keys=_keys(metadata, fresh=True), **check)
    if "email" not in claims and metadata.get("userinfo_endpoint"):
        url_check(metadata["userinfo_endpoint"])
        try:
            response = session.get(
                metadata["userinfo_endpoint"], timeout=settings.PORTAL_SSO_HTTP_TIMEOUT
            )
            response.raise_for_status()
            info = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise SignOnFailed() from exc
        if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
            raise SignOnFailed()
        claims = {
            **info,
            **claims,
            "email": info.get("email"),
            "email_verified": info.get("email_verified"),
        }
    return claims
