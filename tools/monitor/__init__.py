"""Live staff view of every cabinet, port and alarm on a broker.

Run: `.venv/bin/python -m tools.monitor --broker HOST:PORT [--site PREFIX/CABINET-GLOB]
[--webhook URL] [--lang zh|en]`.
`model` turns MQTT messages into state (and documents the telemetry format read),
`app` is the Textual UI, `link` the paho-mqtt connection, `webhook` the alarm forwarder.
"""
