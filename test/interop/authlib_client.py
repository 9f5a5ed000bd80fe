"""Drive Latchkey with Python's authlib (Debian python3-authlib) as an independent client implementation.

Usage: /usr/bin/python3 authlib_client.py '<json>' where the JSON names the issuer, the clients and the user
(see test/interop/authlib.test.ts). Prints one JSON object describing what happened; the vitest test asserts on it.
The user's part of the code flow (login and consent forms) is done here over HTTP, like test/helpers/agent.ts.
"""
import html
import json
import re
import sys
from urllib.parse import parse_qs, urljoin, urlparse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

cfg = json.loads(sys.argv[1])
issuer = cfg["issuer"]
out = {}

# OpenID Connect Discovery 1.0
meta = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
out["discovery"] = {"issuer": meta["issuer"], "pkce": meta.get("code_challenge_methods_supported")}
keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())


def form_field(page, name):
    m = re.search(r'name="%s" value="([^"]*)"' % re.escape(name), page)
    return html.unescape(m.group(1)) if m else None


def form_action(page, contains):
    for a in re.findall(r'action="([^"]+)"', page):
        a = html.unescape(a)
        if contains in a:
            return a
    raise RuntimeError("no form posting to %s in page: %s" % (contains, page[:300]))


def user_agent_authorize(url, username, password):
    """Play the user: follow the server's redirects, sign in, approve; return the redirect to the client."""
    browser = requests.Session()
    resp = browser.get(url, allow_redirects=False, timeout=10)
    steps = []
    for _ in range(20):
        location = resp.headers.get("location")
        if location:
            target = urljoin(resp.url, location)
            if not target.startswith(issuer):
                return target, steps
            resp = browser.get(target, allow_redirects=False, timeout=10)
            continue
        page = resp.text
        if 'name="password"' in page:
            steps.append("login")
            action = urljoin(resp.url, form_action(page, "/login"))
            resp = browser.post(action, data={"csrf": form_field(page, "csrf"), "username": username, "password": password}, allow_redirects=False, timeout=10)
        elif "/consent" in page:
            steps.append("consent")
            action = urljoin(resp.url, form_action(page, "/consent"))
            resp = browser.post(action, data={"csrf": form_field(page, "csrf"), "decision": "approve"}, allow_redirects=False, timeout=10)
        else:
            raise RuntimeError("unexpected page %d: %s" % (resp.status_code, page[:300]))
    raise RuntimeError("too many steps")


# --- Authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636), ID token, UserInfo, refresh ---------------------
code_client = cfg["code_client"]
rp = OAuth2Session(
    code_client["client_id"],
    code_client["client_secret"],
    scope="openid profile email offline_access",
    redirect_uri=code_client["redirect_uri"],
    code_challenge_method="S256",
    token_endpoint_auth_method="client_secret_basic",
)
verifier = generate_token(64)
nonce = generate_token(20)
auth_url, state = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
callback, steps = user_agent_authorize(auth_url, cfg["username"], cfg["password"])
cb = parse_qs(urlparse(callback).query)
token = rp.fetch_token(meta["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)

id_claims = jwt.decode(
    token["id_token"],
    keys,
    claims_cls=CodeIDToken,
    claims_options={"iss": {"essential": True, "value": issuer}},
    claims_params={"nonce": nonce, "client_id": code_client["client_id"], "access_token": token["access_token"]},
)
id_claims.validate()  # OIDC Core §3.1.3.7, including at_hash (§3.1.3.8)

userinfo = rp.get(meta["userinfo_endpoint"], timeout=10)
out["code_flow"] = {
    "steps": steps,
    "callback_iss": cb.get("iss", [None])[0],  # RFC 9207
    "state_ok": cb.get("state", [None])[0] == state,
    "token_type": token["token_type"],
    "scope": token.get("scope"),
    "has_refresh_token": "refresh_token" in token,
    "id_token": {"sub": id_claims["sub"], "aud": id_claims["aud"], "nonce": id_claims["nonce"], "header_alg": id_claims.header["alg"]},
    "userinfo_status": userinfo.status_code,
    "userinfo": userinfo.json(),
}

# Refresh (RFC 6749 §6) with rotation; the new access token works at UserInfo; the old refresh token is spent.
old_refresh = token["refresh_token"]
refreshed = rp.refresh_token(meta["token_endpoint"], refresh_token=old_refresh)
userinfo2 = rp.get(meta["userinfo_endpoint"], timeout=10)
replay = requests.post(
    meta["token_endpoint"],
    data={"grant_type": "refresh_token", "refresh_token": old_refresh},
    auth=(code_client["client_id"], code_client["client_secret"]),
    timeout=10,
)
out["refresh"] = {
    "new_access_token": refreshed["access_token"] != token["access_token"],
    "rotated": refreshed.get("refresh_token") not in (None, old_refresh),
    "has_id_token": "id_token" in refreshed,
    "userinfo_status": userinfo2.status_code,
    "userinfo_sub": userinfo2.json().get("sub"),
    "replay_status": replay.status_code,
    "replay_error": replay.json().get("error"),
}

# --- client_credentials (RFC 6749 §4.4), introspection (RFC 7662), revocation (RFC 7009) ---------------------------
cc = cfg["cc_client"]
service = OAuth2Session(cc["client_id"], cc["client_secret"], scope="items:read")
cc_token = service.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
rs = cfg["rs_client"]
resource_server = OAuth2Session(rs["client_id"], rs["client_secret"])
active = resource_server.introspect_token(meta["introspection_endpoint"], token=cc_token["access_token"]).json()
revoked = service.revoke_token(meta["revocation_endpoint"], token=cc_token["access_token"])
after = resource_server.introspect_token(meta["introspection_endpoint"], token=cc_token["access_token"]).json()
out["client_credentials"] = {
    "token_type": cc_token["token_type"],
    "scope": cc_token.get("scope"),
    "introspection": active,
    "revocation_status": revoked.status_code,
    "introspection_after_revocation": after,
}

# --- RFC 9068 JWT access token, verified by authlib against the JWKS ------------------------------------------------
jc = cfg["jwt_client"]
jwt_service = OAuth2Session(jc["client_id"], jc["client_secret"], scope="items:read")
jwt_token = jwt_service.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
at_claims = jwt.decode(jwt_token["access_token"], keys, claims_options={"iss": {"essential": True, "value": issuer}, "exp": {"essential": True}})
at_claims.validate()
out["jwt_access_token"] = {"typ": at_claims.header.get("typ"), "alg": at_claims.header.get("alg"), "claims": dict(at_claims)}

print(json.dumps(out))
