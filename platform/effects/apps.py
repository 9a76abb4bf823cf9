from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EffectsConfig(AppConfig):
    name = "effects"
    verbose_name = _("Listing performance and effects")
