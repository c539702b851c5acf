"""ISO 4217 currency codes, for the emulators whose providers ask for one (GramPixel).

The alphabetic codes of ISO 4217 List One as published on 2026-01-01 (178 codes, funds and
precious-metal codes such as ``XAU`` and ``XTS`` included), shipped here rather than taken from a
dependency. A code withdrawn before then (``BGN``, ``ANG``, ``HRK``) and a code no standard
lists (``XTR``, Telegram Stars) are refused, as a provider checking the standard would.
"""

from __future__ import annotations

from typing import Final

_LIST: Final = """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN BWP
    BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN
    ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK
    JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD
    MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP
    PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP
    SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV
    WST XAD XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR
    ZMW ZWG
"""
#: Every current alphabetic code, upper case as the standard writes them.
CODES: Final = frozenset(_LIST.split())


def is_currency(value: object) -> bool:
    """True for a current ISO 4217 code, written in capitals as the standard writes it."""
    return isinstance(value, str) and value in CODES
