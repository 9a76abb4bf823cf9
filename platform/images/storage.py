"""Where image variants are stored: STORAGES["images"] (settings), through a lazy handle the
model's FileField holds, so the configured backend is the one used (local files by default:
MEDIA_ROOT/images, read when first used; S3-compatible storage with IMAGES_S3_BUCKET)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty


class LocalImageStorage(FileSystemStorage):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("location", Path(str(settings.MEDIA_ROOT)) / "images")
        super().__init__(**kwargs)


class ImagesStorage(LazyObject):
    """STORAGES["images"], looked up when first used and again after the setting changes."""

    def _setup(self) -> None:
        self._wrapped = storages["images"]


images_storage = ImagesStorage()


@receiver(setting_changed)
def _storages_changed(*, setting: str, **kwargs) -> None:
    if setting == "STORAGES":
        images_storage._wrapped = empty
