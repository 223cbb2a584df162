"""The bare-stack yardstick: the least a Django view must do for each endpoint we measure.

Same stack as our app (gunicorn with ``deploy/gunicorn.conf.py``, PostgreSQL, production-style
settings), none of our code: the webhook view verifies ``X-Hub-Signature-256`` and inserts the
raw body once; the IPN view verifies Paynow's SHA-512 hash and updates one payment row (one
``UPDATE``, which locks the row). ``benchmarks/ack.py`` loads it exactly as it loads ours.
"""
