"""Provision a cabinet: config.json, the server's key record and per-port QR stickers.

Run: `.venv/bin/python -m tools.provision --cabinet ID --broker HOST:PORT --user U --out DIR`.
`build` makes and checks the config (with firmware/system/config.py), `stickers` the sheet.
"""
