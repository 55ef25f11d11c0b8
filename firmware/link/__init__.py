# The network: Wi-Fi or PPP bring-up and NTP (netif), a non-blocking DNS resolver,
# sliced TCP/TLS sockets, the MQTT client and the uplink that never blocks a control tick.
