"""The reference operator hub: QR orders, card auth, the ledger and the duty room.

    .venv/bin/python -m tools.hub serve --db URL --broker HOST:PORT --http HOST:PORT
    .venv/bin/python -m tools.hub cabinet add ID --key HEX [--prefix P] --db URL
    .venv/bin/python -m tools.hub user add NAME --role staff|admin --db URL

docs/hub.md is the contract.
"""
