# Compact JWS HS256: RFC test vectors, roundtrip, tampering, and every bad_token class.
import binascii
import json

from firmware.protocol import jws

DUAL = True  # also runs on the MicroPython unix port (test_dual_on_unix_port.py)

KEY = b"sim-key-not-for-production"
CLAIMS = {"op": "start", "jti": "c-0001", "exp": 1764201660, "port": 3,
          "limit": {"minutes": 240}}


def _seg(obj):
    return jws.b64url_encode(json.dumps(obj).encode())


def _signed(header_seg, claims_seg, key=KEY):
    # A token whose segments are arbitrary but correctly MACed: only the key holder can
    # make one, so these test the checks that run after the signature.
    si = header_seg + "." + claims_seg
    return si + "." + jws.b64url_encode(jws.hmac_sha256(key, si.encode()))


def test_hmac_sha256_matches_rfc4231_vectors():
    # RFC 4231 test cases 1, 2 and 6 (a key longer than the 64-byte block).
    assert jws.hmac_sha256(b"\x0b" * 20, b"Hi There") == binascii.unhexlify(
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    assert jws.hmac_sha256(b"Jefe", b"what do ya want for nothing?") == binascii.unhexlify(
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    assert jws.hmac_sha256(b"\xaa" * 131,
                           b"Test Using Larger Than Block-Size Key - Hash Key First") == \
        binascii.unhexlify("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")


def test_rfc7515_appendix_a1_token_verifies():
    # The HS256 example of RFC 7515 A.1 (header with CRLFs, claims with an extra field).
    key = jws.b64url_decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0i"
                            "PS4hcgUuTwjAzZr1Z9CAow")
    token = ("eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
             "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19y"
             "b290Ijp0cnVlfQ."
             "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    claims, err = jws.verify(token, key)
    assert err is None
    assert claims == {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}


def test_base64url_roundtrip_without_padding():
    for n in range(40):
        data = bytes((i * 37 + n) & 0xFF for i in range(n))
        s = jws.b64url_encode(data)
        assert "=" not in s and "+" not in s and "/" not in s and "\n" not in s
        assert jws.b64url_decode(s) == data
    assert jws.b64url_encode(b"\xfb\xff") == "-_8"


def test_sign_verify_roundtrip():
    token = jws.sign(CLAIMS, KEY)
    assert token.count(".") == 2
    header = json.loads(jws.b64url_decode(token.split(".")[0]))
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert jws.verify(token, KEY) == (CLAIMS, None)
    assert jws.verify(token.encode(), KEY) == (CLAIMS, None)  # MQTT payloads are bytes


def test_wrong_key_or_tampered_parts_are_bad_signature():
    token = jws.sign(CLAIMS, KEY)
    h, p, s = token.split(".")
    assert jws.verify(token, b"another-key") == (None, "bad_signature")
    other = jws.b64url_encode(json.dumps({"op": "start", "jti": "c-0001", "exp": 1764201660,
                                          "port": 4}).encode())
    assert jws.verify(h + "." + other + "." + s, KEY) == (None, "bad_signature")
    flipped = s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1]
    assert jws.verify(h + "." + p + "." + flipped, KEY) == (None, "bad_signature")
    assert jws.verify(h + "." + p + ".", KEY) == (None, "bad_signature")
    assert jws.verify(h + "." + p + "." + s[:-1], KEY) == (None, "bad_signature")


def test_not_three_parts_is_bad_token():
    token = jws.sign(CLAIMS, KEY)
    for bad in ("", "abc", "a.b", token + ".x", token.replace(".", "..", 1), "..."):
        assert jws.verify(bad, KEY) == (None, "bad_token"), bad


def test_bad_base64_is_bad_token():
    h, p, s = jws.sign(CLAIMS, KEY).split(".")
    for bad in (h + "=." + p + "." + s, h + "." + p + "+." + s, h + "." + p + "." + s + "/",
                h + "." + p + "." + s + "AA", "e" + h + "." + p + "." + s,
                h[:5] + "." + p + "." + s):
        assert jws.verify(bad, KEY) == (None, "bad_token"), bad
    assert jws.verify(b"\xff\xfe.a.b", KEY) == (None, "bad_token")  # not UTF-8
    assert jws.verify("\u00e9" + h + "." + p + "." + s, KEY) == (None, "bad_token")


def test_bad_json_is_bad_token():
    hdr = _seg({"alg": "HS256", "typ": "JWT"})
    assert jws.verify(_signed(jws.b64url_encode(b"{not json"), _seg(CLAIMS)), KEY) == \
        (None, "bad_token")
    assert jws.verify(_signed(hdr, jws.b64url_encode(b'{"op": "stop",')), KEY) == \
        (None, "bad_token")
    assert jws.verify(_signed(hdr, ""), KEY) == (None, "bad_token")


def test_header_alg_other_than_hs256_is_bad_token():
    for header in ({"alg": "none"}, {"alg": "HS512", "typ": "JWT"}, {"alg": "RS256"},
                   {"typ": "JWT"}, {"alg": "hs256"}, ["HS256"], "HS256"):
        token = _signed(_seg(header), _seg(CLAIMS))
        assert jws.verify(token, KEY) == (None, "bad_token"), header
    # The classic unsigned token: alg none and an empty signature.
    assert jws.verify(_seg({"alg": "none"}) + "." + _seg(CLAIMS) + ".", KEY) == \
        (None, "bad_token")


def test_claims_not_an_object_is_bad_token():
    hdr = _seg({"alg": "HS256", "typ": "JWT"})
    for claims in ([1, 2], "op", 42, None, True):
        assert jws.verify(_signed(hdr, _seg(claims)), KEY) == (None, "bad_token"), claims


def test_too_long_is_bad_token_before_any_work():
    token = jws.sign(CLAIMS, KEY)
    assert jws.verify(token, KEY, max_len=len(token)) == (CLAIMS, None)
    assert jws.verify(token, KEY, max_len=len(token) - 1) == (None, "bad_token")
    big = dict(CLAIMS, pad="x" * 3000)
    assert jws.verify(jws.sign(big, KEY), KEY) == (None, "bad_token")  # default 2048
    assert jws.verify(jws.sign(big, KEY), KEY, max_len=8192)[1] is None


def test_signature_compare_is_over_full_length():
    # Same-length and different-length candidates give the same code (no early exit
    # visible in the result; timing is covered by the loop over min length).
    assert jws._same(b"abc", b"abc")
    assert not jws._same(b"abc", b"abd")
    assert not jws._same(b"abc", b"abcd")
    assert not jws._same(b"", b"a")
    assert jws._same(b"", b"")
