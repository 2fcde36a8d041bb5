"""The ID token checks of single sign-on (R43), on tokens signed here: signature, issuer,
audience, nonce and expiry; and the client secret stored encrypted."""

import base64
import json
import time

import pytest
from authlib.jose import JsonWebKey, KeySet, jwt

from organizations import services, sso
from organizations.models import IdentityProvider
from portal.models import AuditEvent

ISSUER = "https://login.studio.example"
CLIENT = "portal-client"
NONCE = "nonce-of-this-sign-in"


@pytest.fixture(scope="module")
def key():
    return JsonWebKey.generate_key("RSA", 2048, {"kid": "k1", "alg": "RS256"}, is_private=True)


def _token(key, **overrides):
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "person-1",
        "nonce": NONCE,
        "iat": now,
        "exp": now + 300,
        "email": "pat@studio.example",
        "email_verified": True,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key).decode()


def _check(token, key):
    public = KeySet([JsonWebKey.import_key(key.as_dict(is_private=False))])
    return sso.id_token_claims(
        id_token=token, keys=public, issuer=ISSUER, client_id=CLIENT, nonce=NONCE
    )


def test_a_good_token_gives_its_claims(key):
    assert _check(_token(key), key)["email"] == "pat@studio.example"


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "https://login.other.example"},
        {"aud": "someone-elses-client"},
        {"aud": ["portal-client", "another"], "azp": "another"},
        {"nonce": "a-replayed-nonce"},
        {"nonce": None},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
        {"exp": None},
    ],
    ids=["issuer", "audience", "authorized-party", "nonce", "no-nonce", "expired", "no-expiry"],
)
def test_a_wrong_token_is_refused(key, overrides):
    with pytest.raises(sso.SignOnFailed):
        _check(_token(key, **overrides), key)


def test_a_token_signed_by_another_key_is_refused(key):
    stranger = JsonWebKey.generate_key("RSA", 2048, {"kid": "k1", "alg": "RS256"}, is_private=True)
    with pytest.raises(sso.SignOnFailed):
        _check(_token(stranger), key)


def test_an_unsigned_token_is_refused(key):
    """alg "none": Authlib's ready-made `jwt` would accept it."""
    now = int(time.time())
    header = {"alg": "none"}
    claims = {"iss": ISSUER, "aud": CLIENT, "sub": "x", "nonce": NONCE, "iat": now, "exp": now + 60}

    def b64(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    with pytest.raises(sso.SignOnFailed):
        _check(f"{b64(header)}.{b64(claims)}.", key)


def test_a_token_signed_with_the_client_secret_is_refused(key):
    secret = JsonWebKey.import_key("client-secret-known-to-both", {"kty": "oct"})
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT, "sub": "x", "nonce": NONCE, "iat": now, "exp": now + 60}
    token = jwt.encode({"alg": "HS256"}, claims, secret).decode()
    with pytest.raises(sso.SignOnFailed):
        sso.id_token_claims(
            id_token=token, keys=KeySet([secret]), issuer=ISSUER, client_id=CLIENT, nonce=NONCE
        )


@pytest.mark.django_db
def test_the_client_secret_is_stored_encrypted_and_never_in_the_audit(org_admin, settings):
    settings.PORTAL_SSO_ALLOW_PRIVATE_ISSUERS = True
    organization = org_admin.administered_organization
    services.identity_provider_save(
        actor=org_admin,
        organization=organization,
        issuer="http://127.0.0.1:9/",
        client_id="portal",
        client_secret="very-secret-value",
    )
    stored = IdentityProvider.objects.get(organization=organization)
    assert "very-secret-value" not in stored.client_secret_encrypted
    assert sso.secret_decrypt(stored.client_secret_encrypted) == "very-secret-value"
    event = AuditEvent.objects.get(action="organization.sign_on_connected")
    assert "very-secret-value" not in str(event.details)


def test_an_issuer_on_a_private_address_is_refused_in_production(settings):
    settings.PORTAL_SSO_ALLOW_PRIVATE_ISSUERS = False
    for url in ("http://login.example.com", "https://127.0.0.1/", "https://10.1.2.3/x"):
        with pytest.raises(sso.SignOnFailed):
            sso.url_check(url)
