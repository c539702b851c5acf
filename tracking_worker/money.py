"""Currencies and amounts: which codes ``track()`` takes, and an amount in the form each
provider's API documents.

``ISO_4217`` is the active list (codes and minor units) shipped here, so validation needs no
dependency and no network; Telegram Stars (``XTR``, whole stars) are the one code beyond it.
An amount is a float in ``track()``; providers send it rounded half-even to the currency's
minor units (two places where an API has no currency), so ``0.1 + 0.2`` goes as ``0.3`` and
never as ``0.30000000000000004``, and ``1e21`` never as ``1e+21``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal

#: Telegram Stars: Telegram's own currency for digital goods, whole stars only.
TELEGRAM_STARS = "XTR"

# ISO 4217 active codes with their minor units (decimal places). Codes without minor units
# (precious metals, XDR, XSU, XUA, XTS for tests, XXX for "no currency") are not money amounts
# a provider can book, so they are left out.
_ISO_4217_TABLE = """
AED 2 AFN 2 ALL 2 AMD 2 ANG 2 AOA 2 ARS 2 AUD 2 AWG 2 AZN 2 BAM 2 BBD 2 BDT 2 BGN 2 BHD 3
BIF 0 BMD 2 BND 2 BOB 2 BOV 2 BRL 2 BSD 2 BTN 2 BWP 2 BYN 2 BZD 2 CAD 2 CDF 2 CHE 2 CHF 2
CHW 2 CLF 4 CLP 0 CNY 2 COP 2 COU 2 CRC 2 CUP 2 CVE 2 CZK 2 DJF 0 DKK 2 DOP 2 DZD 2 EGP 2
ERN 2 ETB 2 EUR 2 FJD 2 FKP 2 GBP 2 GEL 2 GHS 2 GIP 2 GMD 2 GNF 0 GTQ 2 GYD 2 HKD 2 HNL 2
HTG 2 HUF 2 IDR 2 ILS 2 INR 2 IQD 3 IRR 2 ISK 0 JMD 2 JOD 3 JPY 0 KES 2 KGS 2 KHR 2 KMF 0
KPW 2 KRW 0 KWD 3 KYD 2 KZT 2 LAK 2 LBP 2 LKR 2 LRD 2 LSL 2 LYD 3 MAD 2 MDL 2 MGA 2 MKD 2
MMK 2 MNT 2 MOP 2 MRU 2 MUR 2 MVR 2 MWK 2 MXN 2 MXV 2 MYR 2 MZN 2 NAD 2 NGN 2 NIO 2 NOK 2
NPR 2 NZD 2 OMR 3 PAB 2 PEN 2 PGK 2 PHP 2 PKR 2 PLN 2 PYG 0 QAR 2 RON 2 RSD 2 RUB 2 RWF 0
SAR 2 SBD 2 SCR 2 SDG 2 SEK 2 SGD 2 SHP 2 SLE 2 SOS 2 SRD 2 SSP 2 STN 2 SVC 2 SYP 2 SZL 2
THB 2 TJS 2 TMT 2 TND 3 TOP 2 TRY 2 TTD 2 TWD 2 TZS 2 UAH 2 UGX 0 USD 2 USN 2 UYI 0 UYU 2
UYW 4 UZS 2 VED 2 VES 2 VND 0 VUV 0 WST 2 XAF 0 XCD 2 XCG 2 XOF 0 XPF 0 YER 2 ZAR 2 ZMW 2
ZWG 2
"""


def _table(text: str) -> dict[str, int]:
    words = text.split()
    return {code: int(places) for code, places in zip(words[::2], words[1::2], strict=True)}


#: ISO 4217 code -> minor units (decimal places).
ISO_4217: dict[str, int] = _table(_ISO_4217_TABLE)
#: Every code ``track()`` accepts (upper case) -> its decimal places.
CURRENCIES: dict[str, int] = {**ISO_4217, TELEGRAM_STARS: 0}
#: The codes of ``CURRENCIES`` as a frozenset, for providers that take every one of them.
ALL_CODES = frozenset(CURRENCIES)
ISO_CODES = frozenset(ISO_4217)

#: Enough digits for any finite float to two (or four) places: the largest is ~1.8e308.
_EXACT = Context(prec=400, rounding=ROUND_HALF_EVEN)
#: Significant digits a double always carries exactly through text and back.
_FLOAT_DIGITS = 15


def places_of(currency: str | None) -> int:
    """The currency's decimal places; two for none (an API without a currency field)."""
    return CURRENCIES.get(currency, 2) if currency else 2


def rounded(value: float, places: int) -> Decimal:
    """``value`` as the decimal it was written as (its shortest repr), rounded half-even to
    ``places``: ``0.1 + 0.2`` -> ``0.30``, ``19.999`` -> ``20.00``, ``5e-324`` -> ``0.00``."""
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), context=_EXACT)


def decimal_text(value: float, places: int = 2) -> str:
    """A decimal string with exactly ``places`` places, never an exponent: ``"123.45"``,
    ``"1000000000000000000000.00"`` for ``1e21``."""
    return format(rounded(value, places), "f")


def json_number(value: float, places: int) -> int | float | None:
    """The amount rounded to ``places`` as a JSON number whose text shows it exactly: an int
    when whole (``1e21`` goes as ``1000000000000000000000``), else a float whose repr is the
    rounded decimal. None when no float holds it (more than 15 significant digits with a
    fraction, e.g. ``12345678901234.57``): sending it would show a float artifact."""
    amount = rounded(value, places)
    if amount == amount.to_integral_value():
        return int(amount)
    as_float = float(amount)
    if len(amount.as_tuple().digits) > _FLOAT_DIGITS and Decimal(repr(as_float)) != amount:
        return None
    return as_float
