"""Framework integrations, each behind its own extra: ``contrib.django`` (``[django]``) and
``contrib.flask`` (``[flask]``). asyncio code needs none: ``tracking_worker.atrack``.

Each one only wires the public API (``use_settings``, ``set_deferral``, ``set_lookup``) to its
framework; none is imported by the library, and none imports worker code.
"""
