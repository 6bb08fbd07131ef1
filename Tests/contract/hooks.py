"""Teaches schemathesis the one rule of Slipway's document that JSON Schema cannot state.

`imageSignaturePublicKeyPEM` must parse as a PEM public key (the document says so in words); a
generated string almost never does, so a schema-valid request would be refused with 400 for a
reason the schema cannot express. In positive cases only, a generated key is replaced by a real
one (or by "", which removes the key); negative cases are sent as generated.
"""

import schemathesis

PEM = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEtEYMdbr0Yf6LybnpMeHO2euwboLy\n"
    "kZ6n1pCowV2csNAX5IQvwQ6/Au2/RvsUfZJ/hW5Ns4UuHpVRxLGuQPMV5w==\n"
    "-----END PUBLIC KEY-----\n"
)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return
    key = case.body.get("imageSignaturePublicKeyPEM")
    if isinstance(key, str):
        case.body["imageSignaturePublicKeyPEM"] = PEM if len(key) % 2 else ""
