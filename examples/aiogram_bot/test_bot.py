"""The bot's own tests: what its handlers report, with no Redis, no worker and no Telegram
(the ``tracked`` fixture of tracking_worker's pytest plugin, under pytest-asyncio).

    pytest        (in this folder)
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime, timezone
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.types import Chat, Message, SuccessfulPayment, Update, User
from bot import build_dispatcher

from tracking_worker.testing import Tracked

USER = 5842703839
dispatcher = build_dispatcher()  # once: aiogram attaches the bot's router to one dispatcher


class OfflineSession(BaseSession):
    """Answers the bot's calls as Telegram would, without calling it."""

    async def make_request(
        self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None
    ) -> Any:
        if isinstance(method, SendMessage):
            chat = Chat(id=int(method.chat_id), type="private")
            return Message(message_id=1, date=datetime.now(timezone.utc), chat=chat)
        return True

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError
        yield b""

    async def close(self) -> None:
        return None


bot = Bot("42:TEST", session=OfflineSession())


def update(**message: Any) -> Update:
    """A private message from USER, as Telegram sends it."""
    return Update(
        update_id=1,
        message=Message(
            message_id=1,
            date=datetime.now(timezone.utc),
            chat=Chat(id=USER, type="private"),
            from_user=User(id=USER, is_bot=False, first_name="Ann"),
            **message,
        ),
    )


def stars(amount: int) -> SuccessfulPayment:
    return SuccessfulPayment(
        currency="XTR",
        total_amount=amount,
        invoice_payload="pro-plan",
        telegram_payment_charge_id="tg-charge-1",
        provider_payment_charge_id="",
    )


@pytest.mark.asyncio
async def test_start_reports_a_registration(tracked: Tracked) -> None:
    await dispatcher.feed_update(bot, update(text="/start"))
    assert tracked.names == ["registration"]
    assert tracked[0].event["telegram_id"] == USER


@pytest.mark.asyncio
async def test_a_stars_payment_reports_a_purchase(tracked: Tracked) -> None:
    await dispatcher.feed_update(bot, update(successful_payment=stars(50)))
    [purchase] = tracked
    [item] = purchase.requests["graspil"].json
    assert (item["target_id"], item["value"], item["unit"]) == (12, 50, "XTR")
    assert purchase.skipped["grampixel"].startswith("currency XTR is not one GramPixel takes")
