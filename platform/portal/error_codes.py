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
    ErrorCode("ERR_PERFORMANCE_NOT_AUTHORIZED",
              _("The store's authorization does not include the listing performance report, "
                "so the effect of published texts cannot be measured."),
              _("Re-authorize the store with a new code from the seller center: new codes "
                "include the performance report. Generation and publishing work meanwhile.")),
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
    ErrorCode("ERR_MODEL_UNAVAILABLE",
              _("The model service could not be reached or answered with a server error."),
              _("The backup model node takes over; if every node fails, ISV staff check the "
                "nodes' state on the model-node page.")),
    ErrorCode("ERR_MODEL_RATE_LIMITED", _("The model service asked us to slow down (429)."),
              _("The backup model node takes over; staff may lower the node's concurrency "
                "limit.")),
    ErrorCode("ERR_MODEL_PAYMENT_REQUIRED",
              _("The model provider refused the call: the account's balance is used up (402)."),
              _("ISV staff top up the provider account; meanwhile the backup node takes over.")),
    ErrorCode("ERR_MODEL_AUTH", _("The model service refused the node's API key."),
              _("ISV staff correct the API key on the model-node page.")),
    ErrorCode("ERR_MODEL_BAD_REQUEST", _("The model service refused the request as invalid."),
              _("ISV staff check the node's model name and capabilities (vision for images).")),
    ErrorCode("ERR_MODEL_INVALID_OUTPUT",
              _("The model answered with blank or malformed JSON."),
              _("Nothing to do: the request is retried automatically; if it keeps happening, "
                "staff check the instruction set.")),
    ErrorCode("ERR_NO_MODEL_NODE", _("No model node is available for this kind of content."),
              _("ISV staff enable a node (with vision for image descriptions) or wait for a "
                "node taken out of rotation to recover.")),
    ErrorCode("ERR_INPUT_TITLE_ATTRIBUTES",
              _("The product title names fewer than 3 core attributes."),
              _("Add material, colour, size or similar attribute words to the title in the "
                "seller center, sync, and start the job again.")),
    ErrorCode("ERR_INPUT_PARAMETERS", _("Under 85% of the product parameters are filled in."),
              _("Complete the product parameters in the seller center, sync, and start the "
                "job again.")),
    ErrorCode("ERR_INPUT_NO_IMAGE", _("The product has no main image."),
              _("Upload a main image at least 1200 px wide in the seller center and sync.")),
    ErrorCode("ERR_INPUT_IMAGE_WATERMARK", _("The main image carries a watermark or text."),
              _("Upload a clean main image without watermark or text and sync.")),
    ErrorCode("ERR_CONTENT_REJECTED", _("The generated content hit the banned-word list."),
              _("Enable compliance mode and have a person check the text.")),
    ErrorCode("ERR_CONTENT_REFUSAL",
              _("The model refused, wrote about itself or left placeholders, twice."),
              _("Retry the item; if it happens again, ask ISV staff to check the instruction "
                "set for this content kind.")),
    ErrorCode("ERR_VS_402", _("The source image resolution is too low."),
              _("Use a main image at least 1200 px wide.")),
    ErrorCode("ERR_NO_SUBSCRIPTION", _("The store has no active subscription (quota pack)."),
              _("An owner can start the pack's trial once per store on the usage page; "
                "otherwise ask ISV sales to subscribe or renew the store.")),
    ErrorCode("ERR_QUOTA_EXCEEDED", _("Today's AI-call quota for the store is used up."),
              _("Wait until the quota resets at midnight, or raise the daily overage cap.")),
    # Review and publishing.
    ErrorCode("ERR_REVIEW_NOT_ALLOWED", _("Your role does not allow reviewing AI content."),
              _("Ask an owner to give you the reviewer role.")),
    ErrorCode("ERR_REVIEW_FOUR_EYES",
              _("You started this job, and your company requires a second person to approve "
                "its items (four eyes)."),
              _("Ask another reviewer to approve these items.")),
    ErrorCode("ERR_REVIEW_STATE", _("The item is not in a state that allows this decision."),
              _("Reload the item: someone may have decided or published it meanwhile.")),
    ErrorCode("ERR_REVIEW_REASON_REQUIRED", _("A rejection needs a reason."),
              _("Say briefly what is wrong with the text.")),
    ErrorCode("ERR_REVIEW_INVALID_CONTENT", _("The edited content is incomplete or malformed."),
              _("Fill in every field of the text (e.g. at least 3 bullet points).")),
    ErrorCode("ERR_REVIEW_EDIT_REJECTED",
              _("The edited text hits the banned-word list or a length limit."),
              _("Remove the words shown (superlatives such as \"best\" or \"#1\") or shorten "
                "the text, then approve again.")),
    ErrorCode("ERR_REVIEW_NEEDS_CHECK",
              _("The compliance filter flagged this item: it cannot be approved in bulk."),
              _("Open the item, check the text and approve or edit it on its own.")),
    ErrorCode("ERR_REVIEW_NEAR_DUPLICATE",
              _("The text is nearly the same as another product's text in the store; "
                "marketplaces treat such texts as low quality."),
              _("Open the item and edit the text, or send it back for regeneration.")),
    ErrorCode("ERR_REVIEW_NOT_PUBLISHED_KIND",
              _("This content is for the seller (scripts, image descriptions) and is not "
                "published to the listing."),
              _("Copy it from the item page where you need it.")),
    ErrorCode("ERR_REVIEW_STORE_NOT_CONNECTED",
              _("The store is not authorized (revoked or never connected), so nothing is "
                "published."),
              _("Authorize the store again, then retry publishing.")),
    ErrorCode("ERR_MARKETPLACE_CONTENT_REJECTED",
              _("The marketplace's own content check refused words in this text (its list "
                "differs from ours)."),
              _("The item is back in review with the marketplace's findings: edit the text "
                "and approve it again.")),
    ErrorCode("ERR_PUBLISH_STALLED",
              _("Publishing stopped several times without an answer: each time, the worker "
                "handling it ended."),
              _("Publish again (the listing is read first, so nothing is sent twice); if it "
                "keeps happening, ISV staff check the workers' logs.")),
    ErrorCode("ERR_PUBLISH_UNCONFIRMED",
              _("The update was sent, but the marketplace could not be asked whether it "
                "arrived."),
              _("Publish again later: the listing is read first, so nothing is sent twice.")),
]

ERROR_CODES: dict[str, ErrorCode] = {error.code: error for error in _CODES}


def explain(code: str) -> str:
    """Meaning and remedy as one text, for a message shown to people."""
    entry = describe(code)
    return f"{entry.meaning} {entry.remedy}"


def as_json(code: str) -> dict[str, str]:
    """The catalogue entry for an API answer, in the active language."""
    entry = describe(code)
    return {"code": code, "meaning": str(entry.meaning), "remedy": str(entry.remedy)}


def describe(code: str) -> ErrorCode:
    """Meaning and remedy of a code; an unknown code still gets a readable entry."""
    return ERROR_CODES.get(code) or ErrorCode(code, _("Unexpected error."),
                                              _("Contact ISV support with this code."))
