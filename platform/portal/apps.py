from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    default = True
    name = "portal"
    verbose_name = _("Portal")

    def ready(self) -> None:
        from portal import checks  # noqa: F401  (registers the system checks)


class StaffAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "portal.admin_site.StaffAdminSite"
