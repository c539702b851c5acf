"""A Telegram bot (aiogram 3) that reports sign-ups and purchases with tracking_worker.

    BOT_TOKEN=... GRASPIL_API_KEY=... TRACKING_CONFIG=tracking.toml python bot.py

(``tracking.toml``, beside this file, sends sign-ups and purchases to Graspil.)

``atrack`` never blocks the event loop: one round trip over redis.asyncio, or the local spool
(written in a thread) when Redis is down.
"""

from __future__ import annotations

import asyncio
import logging
import os

from aiogram import Bot, Dispatcher, F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import LabeledPrice, Message, PreCheckoutQuery

import tracking_worker

router = Router()


@router.message(CommandStart())
async def start(message: Message) -> None:
    if message.from_user is not None:
        await tracking_worker.atrack("registration", telegram_id=message.from_user.id)
    await message.answer("Welcome! Send /buy to get the pro plan.")


@router.message(Command("buy"))
async def buy(message: Message) -> None:
    await message.answer_invoice(
        title="Pro plan",
        description="A month of the pro plan",
        payload="pro-plan",
        currency="XTR",  # Telegram Stars: no payment provider needed
        prices=[LabeledPrice(label="Pro plan", amount=50)],
    )


@router.pre_checkout_query()
async def pre_checkout(query: PreCheckoutQuery) -> None:
    await query.answer(ok=True)


@router.message(F.successful_payment)
async def paid(message: Message) -> None:
    payment = message.successful_payment
    assert payment is not None and message.from_user is not None
    # Stars (XTR) come in whole stars; other currencies in their smallest unit (cents).
    value = payment.total_amount if payment.currency == "XTR" else payment.total_amount / 100
    await tracking_worker.atrack(
        "purchase",
        telegram_id=message.from_user.id,
        value=value,
        currency=payment.currency,
        order_id=payment.telegram_payment_charge_id,
        properties={"payload": payment.invoice_payload},
    )
    await message.answer("Thank you for your purchase!")


def build_dispatcher() -> Dispatcher:
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    dispatcher.shutdown.register(tracking_worker.aclose)  # this loop's Redis connections
    return dispatcher


async def main() -> None:
    logging.basicConfig(level=logging.INFO)
    tracking_worker.configure()  # TRACKING_CONFIG / TRACKING_REDIS_URL, checked now
    await build_dispatcher().start_polling(Bot(os.environ["BOT_TOKEN"]))


if __name__ == "__main__":
    asyncio.run(main())
