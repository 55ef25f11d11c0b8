"""firmware/protocol/jws.py interoperates with a standard JWT library (PyJWT), on CPython and on
the MicroPython unix port: a server can sign commands with any JWT library."""

import json

import jwt  # PyJWT
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mpy import run_mpy

from firmware.protocol import jws

# The project test key is 26 bytes; PyJWT warns below 32 (RFC 7518 3.2), which is
# about key strength, not interoperability, so the warning is silenced here.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

KEY = bytes.fromhex("73696d2d6b65792d6e6f742d666f722d70726f64756374696f6e")  # config TEST_KEY
CLAIMS = {"op": "start", "jti": "srv-42", "exp": 1764201660, "port": 3,
          "limit": {"minutes": 240}, "order": "o-9"}

json_scalars = (st.none() | st.booleans() | st.integers(-2**40, 2**40)
                | st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=4)
                           | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=10)
# PyJWT type-checks the registered claims (iss, exp, ...) when it encodes: keep random
# values off those names; the firmware's own claims (op, jti, exp) are tested elsewhere.
REGISTERED = {"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}
claims_st = st.dictionaries(st.text(min_size=1, max_size=10).filter(lambda k: k not in REGISTERED),
                            json_values, max_size=6)
keys_st = st.binary(min_size=1, max_size=130)  # both sides of the 64-byte HMAC block


def test_pyjwt_token_verifies_and_ours_decodes_in_pyjwt():
    theirs = jwt.encode(CLAIMS, KEY, algorithm="HS256")
    assert jws.verify(theirs, KEY) == (CLAIMS, None)
    ours = jws.sign(CLAIMS, KEY)
    assert jwt.decode(ours, KEY, algorithms=["HS256"], options={"verify_exp": False}) == CLAIMS
    assert jwt.get_unverified_header(ours) == {"alg": "HS256", "typ": "JWT"}


def test_pyjwt_token_under_another_key_is_bad_signature():
    theirs = jwt.encode(CLAIMS, b"some-other-key-of-32-bytes-length", algorithm="HS256")
    assert jws.verify(theirs, KEY) == (None, "bad_signature")


def test_pyjwt_other_algorithms_are_bad_token():
    theirs = jwt.encode(CLAIMS, b"k" * 64, algorithm="HS512")
    assert jws.verify(theirs, b"k" * 64) == (None, "bad_token")
    unsigned = jwt.encode(CLAIMS, None, algorithm="none")
    assert jws.verify(unsigned, KEY) == (None, "bad_token")


@settings(max_examples=300, deadline=None)
@given(claims=claims_st, key=keys_st)
def test_roundtrip_both_ways_for_any_claims_and_key(claims, key):
    theirs = jwt.encode(claims, key, algorithm="HS256")
    assert jws.verify(theirs, key, max_len=1 << 16) == (claims, None)
    ours = jws.sign(claims, key)
    assert jwt.decode(ours, key, algorithms=["HS256"],
                      options={"verify_signature": True, "verify_exp": False,
                               "verify_iat": False, "verify_nbf": False,
                               "verify_iss": False, "verify_aud": False}) == claims


def test_unix_port_verifies_pyjwt_tokens_and_pyjwt_accepts_unix_port_tokens():
    tokens = [jwt.encode(dict(CLAIMS, jti="t%d" % i, pad="x" * i), KEY, algorithm="HS256")
              for i in range(0, 200, 7)]
    long_key = bytes(range(100))
    tokens_long = [jwt.encode(CLAIMS, long_key, algorithm="HS256")]
    code = """
import json
from firmware.protocol import jws
KEY = %r
for t in %r:
    c, err = jws.verify(t, KEY)
    assert err is None, (t, err)
c, err = jws.verify(%r[0], %r)
assert err is None
print(json.dumps([jws.sign(%r, KEY), jws.sign({"op": "estop", "jti": "e1", "exp": 1}, %r)]))
""" % (KEY, tokens, tokens_long, long_key, CLAIMS, long_key)
    out = json.loads(run_mpy(code).strip().splitlines()[-1])
    assert jwt.decode(out[0], KEY, algorithms=["HS256"], options={"verify_exp": False}) == CLAIMS
    assert jwt.decode(out[1], long_key, algorithms=["HS256"],
                      options={"verify_exp": False})["op"] == "estop"
