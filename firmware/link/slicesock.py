# A socket with blocking semantics for umqtt.simple, built from non-blocking slices.
#
# Every wait is one select.poll slice of at most `link.slice_ms`, after which
# `link.idle_due()` runs (the app's control tick, rate-limited by the link); past
# `link.deadline` (ticks_ms, armed per operation by the link) a wait raises
# OSError(ETIMEDOUT). TCP connect is non-blocking (EINPROGRESS + poll for writability);
# TLS, when the link has a context, wraps the connected socket with the handshake left
# to the first write, so it too advances slice by slice. Its CPU work cannot be sliced:
# with a certificate, the ECDHE key exchange and the signature checks run inside one
# mbedtls call (a few hundred ms on the ESP32, once per connect); with TLS-PSK
# (mqtt_psk_key) the handshake is symmetric crypto only. umqtt writes a packet in 3-5
# pieces: they are coalesced into one TCP segment (one TLS record) and sent when a reply
# is awaited or the link calls flush(); without that, Nagle + delayed ACK cost ~40 ms a
# publish, and TLS would add a record header to every piece.
#
# The link object provides: clock, deadline, slice_ms, idle_due(), got(n), sent(n),
# ssl_ctx() -> SSLContext or None, server_hostname.

import errno
import select

_WBUF = 512  # bytes coalesced before a send
_POLLIN = select.POLLIN
_POLLOUT = select.POLLOUT
_POLLBAD = select.POLLERR | select.POLLHUP
_IPPROTO_TCP = 6  # the same on Linux and lwIP; MicroPython's socket module may lack them
_TCP_NODELAY = 1


def tls_context(cadata, psk_identity=None, psk_key=None):
    """Client context that requires a server certificate signed by the CA in cadata, or
    with psk_key (bytes) TLS-PSK: both sides prove the shared key, and the handshake is
    symmetric crypto only (MicroPython >= 1.29 restricts the context to PSK suites)."""
    if psk_key:
        import tls
        ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
        # The ESP32 stubs predate 1.29's PSK attributes (extmod/modtls_mbedtls.c has them).
        ctx.verify_mode = tls.CERT_NONE  # pyright: ignore[reportAttributeAccessIssue]
        ctx.psk_identity = (  # pyright: ignore[reportAttributeAccessIssue]
            psk_identity.encode() if isinstance(psk_identity, str) else psk_identity)
        if isinstance(psk_key, str):  # hex, as in the config
            import binascii
            psk_key = binascii.unhexlify(psk_key)
        ctx.psk_key = psk_key  # pyright: ignore[reportAttributeAccessIssue]
        return ctx
    import ssl
    if isinstance(cadata, str):
        cadata = cadata.encode()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=_der(cadata))
    return ctx


def _der(cadata):
    """CA certificate as DER: MicroPython's mbedtls build may not parse PEM."""
    if not cadata.startswith(b"-----BEGIN"):
        return cadata
    import binascii
    body = cadata.split(b"-----BEGIN CERTIFICATE-----")[1].split(b"-----END")[0]
    return binascii.a2b_base64(body.replace(b"\n", b"").replace(b"\r", b""))


class SliceSock:
    """The socket umqtt sees: blocking semantics, built from non-blocking slices."""

    def __init__(self, link, raw):
        self.link = link
        self.raw = raw
        self.s = raw  # the stream read and written: raw or its TLS wrapper
        self.blocking = True
        self.back = b""  # bytes peeked by mqttclient.Client.wait_msg, read again first
        self.wbuf = bytearray(_WBUF)
        self.wlen = 0
        self.poller = select.poll()
        self.poller.register(raw, _POLLIN)
        raw.setblocking(False)
        try:  # packets are whole when written: Nagle would hold a publish behind the
            raw.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)  # delayed ACK of a QoS 0 one
        except (OSError, AttributeError):
            pass

    def setblocking(self, flag):
        self.blocking = flag

    def settimeout(self, t):  # umqtt >= 1.5 calls this; our deadline rules
        self.blocking = t != 0

    def connect(self, addr):
        try:
            self.raw.connect(addr)
        except OSError as e:
            if e.args[0] not in (errno.EINPROGRESS, errno.EAGAIN):
                raise
        while True:
            ev = self._wait(_POLLOUT)
            if ev & _POLLBAD:
                raise OSError(errno.ECONNREFUSED)
            if ev & _POLLOUT:
                break
        ctx = self.link.ssl_ctx()
        if ctx is not None:  # handshakes on the first write, slice by slice
            self.s = ctx.wrap_socket(self.raw, server_hostname=self.link.server_hostname,
                                     do_handshake_on_connect=False)

    def _wait(self, event):
        """One poll slice; OSError(ETIMEDOUT) past the operation's deadline."""
        link = self.link
        if link.clock.ticks_diff(link.clock.ticks_ms(), link.deadline) >= 0:
            raise OSError(errno.ETIMEDOUT)
        self.poller.modify(self.raw, event)
        ev = 0
        for _, ev in self.poller.ipoll(link.slice_ms):  # noqa: B007 (the first event)
            break
        link.idle_due()
        return ev

    def _read1(self, n):
        try:
            return self.s.read(n)
        except OSError as e:
            if e.args[0] == errno.EAGAIN:
                return None
            raise

    def read(self, n):
        if n <= 0:
            return b""  # an empty PUBLISH payload; a 0-byte read would look like EOF
        if self.wlen:
            self.flush()  # a request is complete once its reply is awaited
        if self.back:
            got, self.back = self.back[:n], self.back[n:]
            if len(got) == n:
                return got
            rest = self.read(n - len(got))  # None: non-blocking and nothing more yet
            return got if rest is None else got + rest
        r = self._read1(n)
        if r is None and not self.blocking:
            return None
        if r == b"":
            if not self.blocking:
                return r  # umqtt raises OSError(-1)
            raise OSError(errno.ECONNRESET)
        if r is not None:
            self.link.got(len(r))
            if len(r) == n:
                return r
        parts = [r] if r else []
        left = n - (len(r) if r else 0)
        while left:
            r = self._read1(left)
            if r is None:
                self._wait(_POLLIN)
                continue
            if not r:
                raise OSError(errno.ECONNRESET)
            self.link.got(len(r))
            parts.append(r)
            left -= len(r)
        return b"".join(parts)

    def skip(self, n, buf):
        """Read and drop n bytes through buf (no allocation)."""
        while n:
            try:
                r = self.s.readinto(buf, min(len(buf), n))
            except OSError as e:
                if e.args[0] != errno.EAGAIN:
                    raise
                r = None
            if r is None:
                self._wait(_POLLIN)
                continue
            if not r:
                raise OSError(errno.ECONNRESET)
            self.link.got(r)
            n -= r

    def write(self, buf, n=None):
        size = len(buf) if n is None else n
        if self.wlen + size > _WBUF:
            self.flush()
        if size > _WBUF:
            self._send(memoryview(buf)[:size])
        else:
            self.wbuf[self.wlen:self.wlen + size] = buf if n is None else buf[:n]
            self.wlen += size
        self.link.sent(size)
        return size

    def flush(self):
        if self.wlen:
            n, self.wlen = self.wlen, 0
            self._send(memoryview(self.wbuf)[:n])

    def _send(self, mv):
        off = 0
        size = len(mv)
        while off < size:
            try:
                w = self.s.write(mv[off:])
            except OSError as e:
                if e.args[0] != errno.EAGAIN:
                    raise
                w = None
            if not w:
                self._wait(_POLLOUT if self.s is self.raw else _POLLIN)
                continue
            off += w

    def close(self):
        try:
            self.flush()  # umqtt's DISCONNECT; _drop empties the buffer first
            self.s.close()
        finally:
            if self.s is not self.raw:
                self.raw.close()
