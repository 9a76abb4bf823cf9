from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImagesConfig(AppConfig):
    name = "images"
    verbose_name = _("Images")

    def ready(self) -> None:
        from catalog.signals import products_changed
        from images import tasks

        products_changed.connect(tasks.inspect_after_sync, dispatch_uid="images.inspect")
