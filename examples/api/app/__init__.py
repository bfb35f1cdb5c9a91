"""mooring's example API: a small real HTTP service on Postgres and Redis.

Standard library plus Debian's ``python3-psycopg2`` and ``python3-redis``; no pip. Run it with
``python3 -m app serve`` and migrate its schema with ``python3 -m app migrate``. The reference
stack images (``mooring/api:<version>``) are built from this folder by
``mooring.sandbox.stack_images.ensure_stack_images``.
"""
