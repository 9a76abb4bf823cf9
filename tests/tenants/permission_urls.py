"""URLconf for the permission tests: the project's URLs plus one probe view per permission.

Each probe is guarded only by the product's own guards (DRF `requires(...)` for the API,
`member_required(...)` for portal pages), so a test can ask "may this caller do X?" through
the real middleware, authentication and permission code.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from config.urls import handler403, handler404, handler500
from config.urls import urlpatterns as project_urlpatterns
from tenants.access import member_required
from tenants.permissions import requires
from tenants.roles import TenantPermission

__all__ = ["handler403", "handler404", "handler500", "urlpatterns"]


def _api_probe(permission: TenantPermission):
    @api_view(["GET", "POST"])
    @permission_classes([requires(permission)])
    def probe(request: Request) -> Response:
        return Response({"allowed": permission.value, "tenant": request._request.tenant.slug})

    return probe


def _portal_probe(permission: TenantPermission):
    @member_required(permission)
    def probe(request: HttpRequest) -> HttpResponse:
        return HttpResponse(f"allowed {permission.value} in {request.tenant.slug}")

    return probe


urlpatterns = [
    *project_urlpatterns,
    *(path(f"api/v1/probe/{p.value}/", _api_probe(p)) for p in TenantPermission),
    *(path(f"portal-probe/{p.value}/", _portal_probe(p)) for p in TenantPermission),
]
