"""API rate limits (DRF throttles on the Redis cache): per API key, and per tenant (its keys
and its members' sessions together). Over a limit: 429 with Retry-After."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class _SettingRateThrottle(SimpleRateThrottle):
    """The rate comes from a Django setting, read when a request is checked (DRF's own
    THROTTLE_RATES is read once at import)."""

    setting = ""

    def get_rate(self) -> str:
        return getattr(settings, self.setting)


class ApiKeyRateThrottle(_SettingRateThrottle):
    scope = "api_key"
    setting = "API_RATE_PER_KEY"

    def get_cache_key(self, request, view) -> str | None:
        api_key = getattr(request._request, "api_key", None)
        return None if api_key is None else f"throttle:api_key:{api_key.pk}"


class TenantRateThrottle(_SettingRateThrottle):
    scope = "tenant"
    setting = "API_RATE_PER_TENANT"

    def get_cache_key(self, request, view) -> str | None:
        tenant = getattr(request._request, "tenant", None)
        return None if tenant is None else f"throttle:tenant:{tenant.pk}"
