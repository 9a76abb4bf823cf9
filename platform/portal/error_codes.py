"""The one catalogue of error codes: what each means and what the user should do about it.

Logs, job items, store states and API errors carry these codes; pages show meaning and remedy.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class ErrorCode:
    code: str
    meaning: str | Promise
    remedy: str | Promise


_CODES = [
    ErrorCode("ERR_TEMU_403", _("The store's authorization does not allow this call."),
              _("Re-authorize the store in the seller center and paste the new code here.")),
    ErrorCode("ERR_TOKEN_EXPIRED", _("The store's access token has expired."),
              _("Generate a new authorization code in the seller center (valid for 7 days) and "
                "re-authorize the store.")),
    ErrorCode("ERR_IP_NOT_WHITELISTED",
              _("The marketplace refused our servers' address (IP whitelist)."),
              _("Add the ISV egress IPs shown on the store page to the IP whitelist in the "
                "seller center.")),
    ErrorCode("ERR_AUTH_CODE_INVALID",
              _("The authorization code is wrong, expired or was already used."),
              _("Generate a new authorization code in the seller center and paste it at once.")),
    ErrorCode("ERR_MARKETPLACE_RATE_LIMITED", _("The marketplace asked us to slow down."),
              _("Nothing to do: the request is retried automatically.")),
    ErrorCode("ERR_DAILY_REQUEST_BUDGET", _("The store used its 5,000 marketplace requests today."),
              _("Wait for tomorrow; the budget resets at midnight in your time zone.")),
    ErrorCode("ERR_MARKETPLACE_SIGNATURE", _("The marketplace rejected our request signature."),
              _("This is our fault and has been logged; ISV support is looking at it.")),
    ErrorCode("ERR_MARKETPLACE_UNAVAILABLE",
              _("The marketplace did not answer properly (timeout, error page or broken data)."),
              _("Try again later; nothing was changed in your catalog.")),
    ErrorCode("ERR_MARKETPLACE_GOODS_NOT_FOUND",
              _("The marketplace does not know this listing (any more)."),
              _("Sync the store's catalog again; the listing may have been deleted.")),
    ErrorCode("ERR_SKU_LIMIT", _("The store has more SKUs than its quota pack covers."),
              _("SKUs beyond the limit are not synced; upgrade the pack or remove SKUs.")),
    ErrorCode("ERR_MODEL_TIMEOUT", _("The model service timed out."),
              _("The backup model node takes over; nothing to do unless it keeps happening.")),
    ErrorCode("ERR_CONTENT_REJECTED", _("The generated content hit the banned-word list."),
              _("Enable compliance mode and have a person check the text.")),
    ErrorCode("ERR_VS_402", _("The source image resolution is too low."),
              _("Use a main image at least 1200 px wide.")),
    ErrorCode("ERR_NO_SUBSCRIPTION", _("The store has no active subscription (quota pack)."),
              _("Ask ISV sales to subscribe or renew the store; its usage page says why.")),
    ErrorCode("ERR_QUOTA_EXCEEDED", _("Today's AI-call quota for the store is used up."),
              _("Wait until the quota resets at midnight, or raise the daily overage cap.")),
]

ERROR_CODES: dict[str, ErrorCode] = {error.code: error for error in _CODES}


def describe(code: str) -> ErrorCode:
    """Meaning and remedy of a code; an unknown code still gets a readable entry."""
    return ERROR_CODES.get(code) or ErrorCode(code, _("Unexpected error."),
                                              _("Contact ISV support with this code."))
