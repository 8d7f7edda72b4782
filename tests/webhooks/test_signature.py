from __future__ import annotations

import hashlib
import hmac

import pytest

from pique_engine.errors import SignatureError
from pique_engine.webhooks.signature import sign, verify

BODY = b'{"job_id":"job_AbC123","status":"completed","overall_score":0.85}'
T = 1_732_654_321


def expected_hex(secret: str, t: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def test_sign_produces_t_v1_alg_header_with_hmac_over_timestamp_dot_body() -> None:
    header = sign(BODY, ["s3cret"], T)
    assert header == f"t={T},v1={expected_hex('s3cret', T, BODY)},alg=sha256"


def test_sign_emits_one_v1_per_secret_in_given_order() -> None:
    header = sign(BODY, ["old", "new"], T)
    assert header == f"t={T},v1={expected_hex('old', T, BODY)},v1={expected_hex('new', T, BODY)},alg=sha256"


def test_sign_keys_with_secret_bytes_exactly_as_given() -> None:
    # No stripping of whitespace or "whsec_" prefixes, no base64 decoding; non-ASCII is UTF-8.
    for secret in ("whsec_abc", " padded ", "clé-secrète"):
        assert sign(BODY, [secret], T) == f"t={T},v1={expected_hex(secret, T, BODY)},alg=sha256"
    assert sign(BODY, ["abc "], T) != sign(BODY, ["abc"], T)


def test_sign_matches_a_vector_computed_with_openssl() -> None:
    # printf '1700000000.{}' | openssl dgst -sha256 -hmac key
    assert sign(b"{}", ["key"], 1_700_000_000) == (
        "t=1700000000,v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae,alg=sha256"
    )


@pytest.mark.parametrize("secrets", [[], "a-single-string", [""]])
def test_sign_rejects_missing_empty_or_bare_string_secrets(secrets: object) -> None:
    with pytest.raises(ValueError, match="secret"):
        sign(BODY, secrets, T)  # type: ignore[arg-type]


def test_verify_accepts_own_signature_and_returns_timestamp() -> None:
    assert verify(BODY, sign(BODY, ["k"], T), ["k"], now=T + 10) == T


def test_verify_accepts_any_v1_against_any_secret_during_rotation() -> None:
    header = sign(BODY, ["old", "new"], T)
    assert verify(BODY, header, ["new"], now=T) == T
    assert verify(BODY, header, ["old"], now=T) == T
    assert verify(BODY, sign(BODY, ["new"], T), ["old", "new"], now=T) == T


def test_verify_tolerates_whitespace_unknown_keys_and_uppercase_hex() -> None:
    hex_ = expected_hex("k", T, BODY)
    header = f" t = {T} ,  v0=legacy, v1={hex_.upper()} , scheme=x,alg=SHA256 "
    assert verify(BODY, header, ["k"], now=T) == T


def test_verify_without_alg_key_still_verifies() -> None:
    assert verify(BODY, f"t={T},v1={expected_hex('k', T, BODY)}", ["k"], now=T) == T


def test_verify_rejects_body_changed_by_one_byte() -> None:
    header = sign(BODY, ["k"], T)
    with pytest.raises(SignatureError, match=r"no signature matches: 1 v1 signature.* 1 secret"):
        verify(BODY.replace(b"0.85", b"0.95"), header, ["k"], now=T)


def test_verify_rejects_wrong_secret() -> None:
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(BODY, sign(BODY, ["k"], T), ["other"], now=T)


def test_verify_rejects_timestamp_swapped_onto_old_signature() -> None:
    old = sign(BODY, ["k"], T - 3600)
    forged = old.replace(f"t={T - 3600}", f"t={T}")
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(BODY, forged, ["k"], now=T)


def test_verify_rejects_stale_timestamp_saying_by_how_much() -> None:
    header = sign(BODY, ["k"], T)
    with pytest.raises(SignatureError, match=r"stale by 100 s: timestamp is 400 s old, tolerance 300 s"):
        verify(BODY, header, ["k"], now=T + 400)


def test_verify_rejects_timestamp_too_far_in_the_future() -> None:
    header = sign(BODY, ["k"], T)
    with pytest.raises(SignatureError, match="400 s in the future"):
        verify(BODY, header, ["k"], now=T - 400)


def test_verify_accepts_exactly_at_tolerance_and_honours_custom_tolerance() -> None:
    header = sign(BODY, ["k"], T)
    assert verify(BODY, header, ["k"], now=T + 300) == T
    assert verify(BODY, header, ["k"], now=T - 300) == T
    with pytest.raises(SignatureError, match="stale by 1 s"):
        verify(BODY, header, ["k"], now=T + 31, tolerance_sec=30)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", "malformed signature header: it is empty"),
        ("garbage", "element 'garbage' is not key=value"),
        (f"t={T},,v1=00", "element '' is not key=value"),
        ("v1=" + "a" * 64, "no t= timestamp"),
        (f"t=abc,v1={'a' * 64}", "t='abc' is not a Unix time"),
        (f"t=-5,v1={'a' * 64}", "t='-5' is not a Unix time"),
        (f"t={T},t={T + 1},v1={'a' * 64}", "more than one t="),
        (f"t={T},v1=zz", "v1 must be 64 hex characters"),
        (f"t={T},v1={'a' * 63}", "v1 must be 64 hex characters"),
        (f"t={T},alg=sha256", "has no v1= signature"),
        (f"t={T},v0={'a' * 64}", "has no v1= signature"),
        (f"t={T},v1={'a' * 64},alg=sha1", "unsupported signature algorithm alg='sha1'"),
    ],
)
def test_verify_names_what_is_wrong_with_a_malformed_header(header: str, message: str) -> None:
    with pytest.raises(SignatureError) as info:
        verify(BODY, header, ["k"], now=T)
    assert message in str(info.value)


def test_verify_refuses_decoded_text_body_with_a_hint() -> None:
    with pytest.raises(TypeError, match="raw request bytes"):
        verify(BODY.decode(), sign(BODY, ["k"], T), ["k"], now=T)  # type: ignore[arg-type]


def test_verify_uses_constant_time_compare_for_every_signature_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    header = sign(BODY, ["a", "b"], T)
    assert verify(BODY, header, ["x", "b", "y"], now=T) == T
    # 2 signatures x 3 secrets, with no early exit after the match.
    assert len(calls) == 6
