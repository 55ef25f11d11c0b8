"""The payment seam. A provider takes a prepayment for an order, refunds the unused part,
and signs the notices it POSTs to the hub; WeChat Pay or Alipay plug in here as further
`Provider` classes. The default `TestProvider` moves no money: it is labelled as a test
on the resident page and captures every prepayment at once.

Notices (`POST /api/pay/notify/<provider>`) are verified before anything is read from
them: an HMAC-SHA256 over "<timestamp>.<body>" with the provider's secret, a timestamp
within NOTICE_WINDOW_S of ours, and a notice id never seen before (the database keeps
every notice id: a replayed notice is refused).
"""

import hashlib
import hmac
import json
import secrets
import time

NOTICE_WINDOW_S = 300
SIG_HEADER = "x-pay-signature"
TS_HEADER = "x-pay-timestamp"


class NoticeError(ValueError):
    def __init__(self, status, code, text):
        ValueError.__init__(self, text)
        self.status, self.code = status, code


class Provider:
    name = "base"
    test = False

    def create(self, order_id, amount_fen):
        """-> (pay_id, paid now?)"""
        raise NotImplementedError

    def refund(self, pay_id, amount_fen):
        """-> True when the refund is accepted"""
        raise NotImplementedError

    def verify(self, headers, body, now=None):
        """-> the notice as a dict {"notice", "order", "event"}; NoticeError otherwise"""
        raise NotImplementedError


class TestProvider(Provider):
    name = "test"
    test = True

    def __init__(self, secret=None):
        self.secret = secret or secrets.token_bytes(32)
        self.refunds = []  # (pay_id, fen), for the tests and the page

    def create(self, order_id, amount_fen):
        return "testpay-%s" % secrets.token_hex(6), True

    def refund(self, pay_id, amount_fen):
        self.refunds.append((pay_id, amount_fen))
        return True

    def sign(self, body, ts=None):
        """Headers for a notice body (what the provider's server would send)."""
        ts = str(int(time.time() if ts is None else ts))
        mac = hmac.new(self.secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        return {SIG_HEADER: mac, TS_HEADER: ts}

    def verify(self, headers, body, now=None):
        now = time.time() if now is None else now
        sig, ts = headers.get(SIG_HEADER), headers.get(TS_HEADER)
        if not sig or not ts:
            raise NoticeError(401, "unsigned", "%s and %s headers are required"
                              % (SIG_HEADER, TS_HEADER))
        if not ts.isdigit() or abs(now - int(ts)) > NOTICE_WINDOW_S:
            raise NoticeError(401, "stale", "%s %r: not within %d s of now"
                              % (TS_HEADER, ts[:20], NOTICE_WINDOW_S))
        want = hmac.new(self.secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig):
            raise NoticeError(401, "bad_signature", "the notice's signature does not match")
        try:
            doc = json.loads(body)
        except ValueError:
            raise NoticeError(400, "bad_json", "the notice body is not JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("notice"), str) \
                or not isinstance(doc.get("order"), str) or doc.get("event") != "paid":
            raise NoticeError(400, "bad_notice", "notice needs notice, order (strings) and "
                              "event \"paid\"")
        return doc
