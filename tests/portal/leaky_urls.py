"""A URL configuration for the walk's own tests: the real site plus routes that leak.

Used only with @pytest.mark.urls, to prove the isolation walk notices a leak."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from tenants.access import member_required
from tenants.models import Membership


@member_required()
def leaky_member(request: HttpRequest, pk: int) -> HttpResponse:
    # The bug the walk exists to catch: an unscoped query on a URL parameter.
    return HttpResponse(Membership.unscoped.select_related("user").get(pk=pk).user.email)


def open_page(request: HttpRequest) -> HttpResponse:
    # A page that forgot to require sign-in.
    return HttpResponse("nothing secret, but not public either")


def unmapped(request: HttpRequest, code: str) -> HttpResponse:
    return HttpResponse(code)


urlpatterns = [
    path("", include("config.urls")),
    path("portal/leaky/<int:pk>/", leaky_member, name="leaky_member"),
    path("portal/open/", open_page, name="open_page"),
    path("portal/widgets/<str:code>/", unmapped, name="unmapped_widget"),
]
