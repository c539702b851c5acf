from __future__ import annotations

from django.db import models


class Order(models.Model):
    telegram_id = models.BigIntegerField()
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3)
    paid = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
