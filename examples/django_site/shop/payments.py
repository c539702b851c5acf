"""Stands in for a payment provider's API."""

from __future__ import annotations

from .models import Order


class PaymentDeclined(Exception):
    pass


def charge(order: Order, card: str) -> None:
    if card == "declined":
        raise PaymentDeclined(f"card declined for order {order.pk}")
    order.paid = True
    order.save(update_fields=["paid"])
