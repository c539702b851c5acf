"""The shop's own tests: what a checkout reports, with no Redis and no worker
(``tracking_worker.testing.capture``).

    GRASPIL_API_KEY=test python manage.py test
"""

from __future__ import annotations

from django.test import TestCase

from tracking_worker.testing import capture


class CheckoutTests(TestCase):
    def checkout(self, **data: object) -> object:
        return self.client.post("/checkout/", data, content_type="application/json")

    def test_a_paid_checkout_reports_a_purchase(self) -> None:
        # A TestCase never commits: run the on-commit callbacks, where the event is enqueued.
        with capture() as tracked, self.captureOnCommitCallbacks(execute=True):
            response = self.checkout(telegram_id=42, amount="19.99", currency="usd")
        self.assertEqual(response.status_code, 201)
        self.assertEqual(tracked.names, ["purchase"])
        [item] = tracked[0].requests["graspil"].json
        self.assertEqual((item["target_id"], item["value"], item["unit"]), (12, 19.99, "USD"))

    def test_a_declined_payment_reports_nothing(self) -> None:
        with capture() as tracked, self.captureOnCommitCallbacks(execute=True):
            response = self.checkout(telegram_id=42, amount="5", currency="usd", card="declined")
        self.assertEqual(response.status_code, 402)
        self.assertEqual(len(tracked), 0)  # rolled back with the order: never enqueued
