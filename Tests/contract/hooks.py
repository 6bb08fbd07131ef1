"""Teaches schemathesis the rules of Slipway's document that JSON Schema cannot state.

`imageSignaturePublicKeyPEM` must parse as a PEM public key (the document says so in words); a
generated string almost never does, so a schema-valid request would be refused with 400 for a
reason the schema cannot express. In positive cases only, a generated key is replaced by a real
one (or by "", which removes the key); negative cases are sent as generated.
"""

import datetime
import re

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
    positive_targeting(case.body)
    within_byte_limits(case.body)


# Label keys follow a pattern OpenAPI 3.0 cannot put on property names (`propertyNames` is not in it); a
# rollout's `scheduledAt` must lie ahead of the server's clock; `selector.instanceIds` must name instances
# the environment has, which generated ids never do; a maintenance window's time zone must exist and its end
# differ from its start. Positive cases get valid keys, a time ahead, no ids, a real zone and two times.
LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$")


def valid_labels(labels):
    return {key: value for key, value in labels.items() if isinstance(key, str) and LABEL_KEY.match(key)}


# Names and descriptions are bounded in UTF-8 bytes (so one character cannot carry unbounded marks); the
# document's maxLength counts characters, so a positive case of wide characters is cut to the byte limit.
BYTE_LIMITS = {"name": 100, "tierVersion": 100, "description": 1024, "secret": 256, "releaseNotes": 16384, "version": 100}


def within_byte_limits(body):
    for field, limit in BYTE_LIMITS.items():
        value = body.get(field)
        if isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) > limit:
            cut = value
            while len(cut.encode("utf-8", "surrogatepass")) > limit:
                cut = cut[:-1]
            body[field] = cut.rstrip() or "x"


def positive_targeting(body):
    # A webhook's URL must parse as one; deliveries go to a loopback port nothing listens on.
    if isinstance(body.get("url"), str) and "events" in body:
        body["url"] = "http://127.0.0.1:9/slipway"
    if body.get("pauseAfterCanary") is True and not body.get("canaryCount"):
        body["canaryCount"] = 1
    if isinstance(body.get("labels"), dict):
        body["labels"] = valid_labels(body["labels"])
    if isinstance(body.get("scheduledAt"), str):
        ahead = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        body["scheduledAt"] = ahead.strftime("%Y-%m-%dT%H:%M:%SZ")
    # An analysis is measured from here: it points at a loopback port nothing listens on.
    if isinstance(body.get("analysis"), dict):
        body["analysis"] = {"url": "http://127.0.0.1:9/health"}
    window = body.get("maintenanceWindow")
    if isinstance(window, dict):
        window["timeZone"] = "Europe/Berlin"
        if window.get("start") == window.get("end"):
            window["end"] = "23:59" if window.get("start") != "23:59" else "00:00"
    selector = body.get("selector")
    if isinstance(selector, dict):
        if isinstance(selector.get("labels"), dict):
            selector["labels"] = valid_labels(selector["labels"]) or {"region": "eu"}
        selector.pop("instanceIds", None)
        if not selector.get("labels"):
            body["selector"] = None
