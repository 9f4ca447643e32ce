"""`make bench`: batch-ims against a lean floor client and the official SDK, on loopback.

Run `python -m bench` (or `python -m bench --quick`); see bench/README.md.
"""
