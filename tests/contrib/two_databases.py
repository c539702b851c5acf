"""The example site's settings with a second database, as a site with a separate ledger or
tenant database has: the Django tests run on these, so ``track()`` is checked inside a
transaction on either. Test databases are created in memory (sqlite's test default)."""

from __future__ import annotations

from shop_site.settings import *  # noqa: F403 - the example's settings, one key changed
from shop_site.settings import BASE_DIR, DATABASES

DATABASES = {
    **DATABASES,
    "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "other.sqlite3"},
}
