#!/usr/bin/env python3
"""Writes the committed seed corpora, fuzz/corpus/<target>/, from the test fixtures.

Run from anywhere: `python3 fuzz/make-seeds.py`. Rerun after the PyJWT or Lambda fixtures are
regenerated (the seed tokens are copies of them). Files are named by content, so a rerun only
adds what changed; delete a target's directory first to drop stale seeds. The two X.509
certificates of `keys` (throwaway keys, public halves only) are made once with openssl and kept.
"""

import base64
import hashlib
import json
import pathlib
import subprocess
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
PYJWT = ROOT / "crates" / "tollgate-core" / "tests" / "fixtures" / "pyjwt"
LAMBDA = ROOT / "crates" / "tollgate-lambda" / "tests" / "fixtures"

TOKENS = json.loads((PYJWT / "tokens.json").read_text())


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def seed(target: str, data, name: str | None = None) -> None:
    if isinstance(data, str):
        data = data.encode()
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    name = name or hashlib.sha1(data).hexdigest()[:16]
    (directory / name).write_bytes(data)


def token(name: str) -> str:
    return next(t["token"] for t in TOKENS if t["name"] == name)


# authorization_header: `{TOKEN}` is the target's own valid HS256 token. No PyJWT HS* token
# here: they verify with the target's key, and the target allows a 200 only for `{TOKEN}`.
for line in [
    "Bearer {TOKEN}",
    "bearer {TOKEN}",
    "BEARER   {TOKEN}",
    "Bearer {TOKEN} ",
    "Bearer {TOKEN}\nBearer {TOKEN}",
    "Bearer {TOKEN},Bearer {TOKEN}",
    "C:access_token={TOKEN}",
    "C:theme=dark; access_token={TOKEN}; lang=en",
    "C:access_token={TOKEN}; access_token={TOKEN}",
    "Q:access_token={TOKEN}",
    "Q:a=1&access_token={TOKEN}&access_token=x",
    "Q:access_token=%7BTOKEN%7D",
    "Bearer {TOKEN}\nC:access_token={TOKEN}",
    "Basic dXNlcjpwYXNzd29yZA==",
    "Bearer",
    "Bearer ",
    "Bearer eyJhbGciOiJub25lIn0.e30.",
    "Bearer " + token("valid-RS256"),
    "Bearer " + token("alg-confusion-HS256").rsplit(".", 1)[0] + ".",
    "Bearer a.b.c",
    "Bearer " + "A" * 9000,
    "DPoP {TOKEN}",
]:
    seed("authorization_header", line)

# token_header: first byte 0 = raw token, 1 = NUL-separated parts to base64url, 2 = header JSON
# of an HS256-signed token with fixed claims.
for t in TOKENS:
    seed("token_header", b"\x00" + t["token"].encode())
for raw in ["eyJhbGciOiJub25lIn0.e30.", "..", "a.b.c.d.e", "eyJhbGciOiJIUzI1NiJ9.e30", ""]:
    seed("token_header", b"\x00" + raw.encode())
claims = json.dumps(TOKENS[0]["claims"]).encode()
headers = [
    '{"alg":"HS256","kid":"hmac-1","typ":"JWT"}',
    '{"alg":"HS256"}',
    '{"alg":"RS256","kid":"rsa-2048"}',
    '{"alg":"EdDSA","kid":"ed25519"}',
    '{"alg":"ES256","kid":"ec-p256"}',
    '{"alg":"none"}',
    '{"alg":"HS256","kid":"hmac-1","typ":"at+jwt"}',
    '{"alg":"HS256","typ":"application/at+JWT"}',
    '{"alg":"HS256","kid":"hmac-1","kid":"other"}',
    '{"alg":"HS256","crit":["exp"]}',
    '{"alg":"HS256","crit":[]}',
    '{"alg":"HS256","b64":false}',
    '{"alg":"HS256","jku":"https://attacker.example/jwks","x5u":"https://a/x","jwk":{"kty":"oct","k":"AAAA"}}',
    '{"alg":"HS256","kid":"","cty":"JWT","zip":"DEF"}',
    '{"alg":"HS256","kid":123}',
    '{"alg":"HS256","x":"\\ud800"}',
    ' {"alg" : "HS256" } ',
    '{"alg":"HS256",}',
]
for header in headers:
    seed("token_header", b"\x01" + header.encode() + b"\x00" + claims + b"\x00" + b"sig")
    seed("token_header", b"\x02" + header.encode())
seed("token_header", b"\x01" + headers[0].encode() + b"\x00" + claims)
seed("token_header", b"\x01" + headers[0].encode() + b"\x00" + claims + b"\x00\x00")

# claims_payload: payloads of an HS256 token signed inside the target.
for t in TOKENS:
    seed("claims_payload", json.dumps(t["claims"], separators=(",", ":")))
VALID = '"iss":"https://issuer.example.com","aud":"tollgate-tests","exp":4102444800'
for payload in [
    "{}",
    "{" + VALID + "}",
    "{" + VALID + ',"sub":"user-1","scope":"a b","scp":["c"],"roles":"admin"}',
    "{" + VALID + ',"sub":"user-1","sub":"user-2"}',
    "{" + VALID + ',"sub":5}',
    "{" + VALID + ',"sub":"\\u00e9\\ud83d\\ude00","jti":"j"}',
    "{" + VALID + ',"x":1e400}',
    "{" + VALID + ',"x":18446744073709551616,"y":-9223372036854775809,"z":0.1e-400}',
    "{" + VALID + ',"nbf":1700000000.5,"iat":1700000000}',
    "{" + VALID + ',"aud":["tollgate-tests","other"]}',
    '{"iss":"https://issuer.example.com","aud":["tollgate-tests"],"exp":4102444800.999}',
    "{" + VALID + ',"nested":' + "[" * 200 + "]" * 200 + "}",
    "{" + VALID + ',"realm_access":{"roles":["a"],"roles":["b"]}}',
    " \t\n{" + VALID + "}\n ",
    "[" + VALID + "]",
    "{" + VALID + "} trailing",
    # every construct of the verifier's JSON reader: literals, floats, escapes, nesting, `cnf`
    "{" + VALID + ',"email_verified":true,"admin":false,"x":null,"f":-0.5E+3,"g":[1.5,-0,{"a":[]}]}',
    "{" + VALID + ',"s":"\\"\\\\\\/\\b\\f\\n\\r\\t","u":"caf\u00e9 \\u0041\\uD83D\\uDE00"}',
    "{" + VALID + ',"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I","x5t#S256":"a"}}',
    "{" + VALID + ',"cnf":{"jkt":"a","jkt":"b"}}',
    "{" + VALID + ',"https://example.com/claims/roles":["a","b"],"https://example.com/claims/roles2":{}}',
    "{ " + VALID.replace(",", " ,\n ").replace(":", " : ") + " }",
]:
    seed("claims_payload", payload)

# jwks
jwks = json.loads((PYJWT / "jwks.json").read_text())
seed("jwks", (PYJWT / "jwks.json").read_bytes(), "pyjwt-jwks.json")
for key in jwks["keys"]:
    seed("jwks", json.dumps(key))
    seed("jwks", json.dumps({"keys": [key]}))
oct_key = {"kty": "oct", "kid": "s1", "alg": "HS256", "k": b64u(b"0123456789abcdef0123456789abcdef")}
for doc in [
    {"keys": []},
    {"keys": {}},
    {"keys": [oct_key]},
    {"keys": [oct_key, jwks["keys"][0]]},
    {"keys": [jwks["keys"][0], jwks["keys"][0]]},
    {"keys": [dict(jwks["keys"][1], kid="dup"), dict(jwks["keys"][2], kid="dup")]},
    {"keys": [dict(jwks["keys"][0], alg="PS256", key_ops=["verify"])]},
    {"keys": [dict(jwks["keys"][1], alg="ES384")]},
    {"keys": [dict(jwks["keys"][0], e="AQ")]},
    {"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]},
    {"keys": [{"kty": "OKP", "crv": "X25519", "x": jwks["keys"][3]["x"]}]},
    {"keys": [dict(jwks["keys"][0], d="AQAB")]},
]:
    seed("jwks", json.dumps(doc))

# discovery: metadata documents, then bare issuers.
for doc in [
    {"issuer": "https://issuer.example.com", "jwks_uri": "https://issuer.example.com/jwks",
     "id_token_signing_alg_values_supported": ["RS256", "EdDSA"]},
    {"issuer": "https://accounts.google.com", "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
     "jwks_uri": "https://www.googleapis.com/oauth2/v3/certs", "response_types_supported": ["code"],
     "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"]},
    {"issuer": "http://localhost:8080/realms/demo",
     "jwks_uri": "http://localhost:8080/realms/demo/protocol/openid-connect/certs"},
    {"issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
     "jwks_uri": "https://login.microsoftonline.com/common/discovery/v2.0/keys"},
    {"issuer": "https://tenant.auth0.com/", "jwks_uri": "https://tenant.auth0.com/.well-known/jwks.json"},
    {"issuer": "https://issuer.example.com"},
    {"issuer": "https://issuer.example.com", "jwks_uri": None},
]:
    seed("discovery", json.dumps(doc))
for issuer in [
    "https://issuer.example.com",
    "https://issuer.example.com/",
    "https://issuer.example.com/tenant/a/",
    "https://issuer.example.com:8443/x",
    "http://127.0.0.1:9000",
    "http://[::1]:9000/realm",
    "http://issuer.example.com",
    "https://user:pass@issuer.example.com",
    "https://issuer.example.com/?q=1",
    "https://issuer.example.com/#frag",
    "https://issuer.example.com\\@evil.example",
    "HTTPS://ISSUER.EXAMPLE.COM/A%2F..%2F",
    "https://xn--nxasmq6b.example/",
    "file:///etc/passwd",
]:
    seed("discovery", issuer)

# keys: PEM and DER public keys, certificates, a certificate map, a private-key label.
for path in sorted(PYJWT.glob("*.pem")) + sorted(PYJWT.glob("*.der")):
    seed("keys", path.read_bytes(), path.name)
certs = {}
for name, args in [("cert-rsa.pem", ["-newkey", "rsa:2048"]),
                   ("cert-ec.pem", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])]:
    out = CORPUS / "keys" / name
    if not out.exists():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["openssl", "req", "-x509", *args, "-nodes", "-keyout", f"{tmp}/key",
                            "-out", str(out), "-days", "36500", "-subj", "/CN=tollgate-fuzz"],
                           check=True, capture_output=True)
    certs[name] = out.read_text()
    der = subprocess.run(["openssl", "x509", "-outform", "DER"], input=out.read_bytes(),
                         check=True, capture_output=True).stdout
    seed("keys", der, name.replace(".pem", ".der"))
seed("keys", json.dumps({"k1": certs["cert-rsa.pem"], "k2": certs["cert-ec.pem"], "k3": 7,
                         "k4": (PYJWT / "rsa.spki.pem").read_text()}), "cert-map.json")
seed("keys", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
     "private-label.pem")
seed("keys", "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n", "empty.pem")

# verify_fixed_key: every PyJWT token as it is.
for t in TOKENS:
    seed("verify_fixed_key", t["token"], t["name"])

# lambda_authorizer_event: the authorizer event fixtures (`{TOKEN}` = the target's valid token)
# and variants.
for name in ["authorizer-token.json", "authorizer-request.json", "authorizer-http-v2.json"]:
    seed("lambda_authorizer_event", (LAMBDA / name).read_bytes(), name)
arn = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/pets/1"
for doc in [
    {"type": "TOKEN", "authorizationToken": "Bearer garbage", "methodArn": arn},
    {"type": "TOKEN", "authorizationToken": "{TOKEN}", "methodArn": arn},
    {"type": "TOKEN", "authorizationToken": "Bearer {TOKEN}", "methodArn": "arn:aws:lambda:x"},
    {"type": "TOKEN", "authorizationToken": "Bearer {TOKEN}"},
    {"type": "REQUEST", "methodArn": arn,
     "headers": {"Authorization": "Bearer {TOKEN}", "authorization": "Bearer {TOKEN}"}},
    {"type": "REQUEST", "methodArn": arn, "headers": None,
     "multiValueHeaders": {"Authorization": ["Bearer {TOKEN}", "Bearer {TOKEN}"]}},
    {"version": "2.0", "type": "REQUEST", "routeArn": arn, "headers": {"authorization": "bearer {TOKEN}"}},
    {"version": "2.0", "type": "REQUEST", "routeArn": arn, "headers": {}},
]:
    seed("lambda_authorizer_event", json.dumps(doc))

print("seeds in", CORPUS)
