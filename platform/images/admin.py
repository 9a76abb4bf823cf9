"""Images in the Django admin: which model nodes have the capability "image" (platform admins
change it; support may look)."""

from __future__ import annotations

from django.contrib import admin

from images.models import ImageNode
from portal.admin_site import StaffModelAdmin


@admin.register(ImageNode)
class ImageNodeAdmin(StaffModelAdmin):
    list_display = ["node", "size", "price_per_image"]
    autocomplete_fields = ["node"]
