"""``atrack`` in a Telegram bot: ``examples/aiogram_bot`` fed updates through aiogram's own
Dispatcher, its replies recorded by a session that never calls Telegram."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from datetime import datetime, timezone
from typing import Any

import pytest

pytest.importorskip("aiogram")

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.types import Chat, Message, SuccessfulPayment, Update, User

import tracking_worker
from tests.contrib.support import load_example
from tests.helpers import wait_for
from tests.system import System
from tracking_worker.sandbox import SandboxServer

bot_module = load_example("aiogram_bot/bot.py", "example_aiogram_bot")
BUYER = 5842703839


class RecordingSession(BaseSession):
    """What the bot sends to Telegram, kept here; each message "sent" as Telegram would."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[TelegramMethod[Any]] = []

    async def make_request(
        self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None
    ) -> Any:
        self.sent.append(method)
        if isinstance(method, SendMessage):
            return Message(
                message_id=len(self.sent),
                date=datetime.now(timezone.utc),
                chat=Chat(id=int(method.chat_id), type="private"),
                text=method.text,
            )
        return True

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError
        yield b""

    async def close(self) -> None:
        return None


def update(update_id: int, **message: Any) -> Update:
    user = User(id=BUYER, is_bot=False, first_name="Ann")
    return Update(
        update_id=update_id,
        message=Message(
            message_id=update_id,
            date=datetime.now(timezone.utc),
            chat=Chat(id=BUYER, type="private"),
            from_user=user,
            **message,
        ),
    )


def test_a_stars_purchase_in_a_handler_reaches_the_provider(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    system = make_system(providers=["graspil"])
    tracking_worker.configure(system.settings)
    session = RecordingSession()

    async def conversation() -> None:
        bot = Bot("42:TEST", session=session)
        dispatcher = bot_module.build_dispatcher()
        await dispatcher.feed_update(bot, update(1, text="/start"))
        payment = SuccessfulPayment(
            currency="XTR",
            total_amount=50,
            invoice_payload="pro-plan",
            telegram_payment_charge_id="tg-charge-1",
            provider_payment_charge_id="",
        )
        await dispatcher.feed_update(bot, update(2, successful_payment=payment))
        await dispatcher.emit_shutdown(bot=bot)  # the bot's shutdown: tracking_worker.aclose
        assert not tracking_worker._Default.async_trackers

    asyncio.run(conversation())

    replies = [m.text for m in session.sent if isinstance(m, SendMessage)]
    assert replies == ["Welcome! Send /buy to get the pro plan.", "Thank you for your purchase!"]
    received = wait_for(lambda: len(sandbox.received("graspil")) == 2, 30, message="delivered")
    assert received
    items = sandbox.received("graspil")
    # Graspil's targets: registration 3, purchase 12 (the sandbox's demo settings).
    assert sorted((item["target_id"], item["user_id"]) for item in items) == [
        (3, BUYER),
        (12, BUYER),
    ]
    purchase = next(item for item in items if item["target_id"] == 12)
    assert (purchase["value"], purchase["unit"]) == (50, "XTR")
