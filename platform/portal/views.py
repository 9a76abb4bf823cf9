from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from audit.models import AuditEvent
from portal.api import json_error
from portal.parsers import too_large_message
from review.views import dashboard_measures as review_dashboard_measures
from tenants.access import member_required
from tenants.models import Membership


def home(request: HttpRequest) -> HttpResponse:
    """Where "/" leads: sellers to their dashboard, staff to the console."""
    if not request.user.is_authenticated:
        return redirect("account_login")
    if request.user.is_isv_staff:
        return redirect("console_home")
    if request.tenant is None:
        return render(request, "portal/no_tenant.html")
    return redirect("dashboard")


@member_required()
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/dashboard.html", {
        "member_count": Membership.objects.count(),
        "recent_events": AuditEvent.objects.select_related("actor")[:10],
        "review_measures": review_dashboard_measures(),
    })


def console_home(request: HttpRequest) -> HttpResponse:
    return redirect("console_tenants")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's answer to a request it refuses before any view (a body over the upload limit,
    too many fields, ...): JSON under /api/, a page elsewhere."""
    if isinstance(exception, RequestDataTooBig):
        status, code, message = 413, "request_too_large", too_large_message()
    elif isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
        status, code = 400, "too_many_fields"
        message = _("The request has too many fields or files: send less at once.")
    else:
        status, code = 400, "bad_request"
        message = _("The request could not be understood; check it and send it again.")
    if request.path.startswith("/api/"):
        return json_error(request, status, code, message)
    return render(request, "400.html", {"message": message}, status=status)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error(request, 404, "not_found", _("Not found."))
    return render(request, "404.html", status=404)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error(request, 403, "permission_denied",
                          _("You do not have permission to perform this action."))
    return render(request, "403.html", status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error(request, 500, "server_error",
                          _("Something went wrong on our side; it has been logged."))
    return render(request, "500.html", status=500)
