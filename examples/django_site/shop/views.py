"""Checkout: the order, its payment and its purchase event commit together, or not at all."""

from __future__ import annotations

import json
from decimal import Decimal

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

import tracking_worker

from .models import Order
from .payments import PaymentDeclined, charge


@require_POST
def checkout(request: HttpRequest) -> JsonResponse:
    data = json.loads(request.body)
    try:
        with transaction.atomic():
            order = Order.objects.create(
                telegram_id=data["telegram_id"],
                amount=Decimal(data["amount"]),
                currency=data["currency"],
            )
            # Validated now (a bad event raises here); enqueued when the block commits.
            event_id = tracking_worker.track(
                "purchase",
                telegram_id=order.telegram_id,
                value=order.amount,
                currency=order.currency,
                order_id=f"order-{order.pk}",
            )
            charge(order, data.get("card", ""))  # declined: rolled back, nothing is sent
    except PaymentDeclined as exc:
        return JsonResponse({"error": str(exc)}, status=402)
    return JsonResponse({"order": order.pk, "event_id": event_id}, status=201)
