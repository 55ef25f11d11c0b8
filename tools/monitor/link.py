"""The monitor's MQTT connection (paho-mqtt, network loop in paho's own thread).

Callbacks run in paho's thread: `on_message(topic, payload)` and `on_state(text)` must
only hand the data over (the app posts a Textual message), never touch the UI.
"""

import secrets
import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def parse_broker(text, flag="--broker"):
    """'HOST:PORT' or '[IPv6]:PORT' -> (host, port); ValueError naming the flag."""
    host, sep, port = (text or "").rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("%s %r: expected HOST:PORT with a port 1-65535, e.g. 127.0.0.1:1883"
                         % (flag, text))
    return host, int(port)


class Link:
    def __init__(self, host, port, topics, on_message, on_state, user=None, password=None,
                 cafile=None, client_id=None, keepalive_s=30):
        self.host, self.port, self.topics = host, port, topics
        self.on_message_cb, self.on_state_cb = on_message, on_state
        self.keepalive_s = keepalive_s
        # A fixed client id keeps a persistent session: QoS 1 alarms queue while we are away.
        persistent = client_id is not None
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=client_id or "monitor-" + secrets.token_hex(4),
                                  clean_session=not persistent, protocol=mqtt.MQTTv311)
        if user:
            self.client.username_pw_set(user, password)
        if cafile:
            self.client.tls_set(ca_certs=cafile, cert_reqs=ssl.CERT_REQUIRED)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.state = "connecting"

    def start(self):
        """Connect in the background (never blocks on DNS or TCP)."""
        self._state("connecting")
        self.client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        self.client.loop_start()

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic, payload, qos=1):
        self.client.publish(topic, payload, qos=qos, retain=False)

    def _state(self, text):
        self.state = text
        self.on_state_cb(text)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self._state("refused: %s" % reason_code)
            return
        client.subscribe([(t, 1) for t in self.topics])
        self._state("connected")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._state("disconnected (%s), retrying" % reason_code)

    def _on_message(self, client, userdata, msg):
        self.on_message_cb(msg.topic, msg.payload)
