"""What the catalog announces; other apps subscribe (images inspects changed products)."""

from django.dispatch import Signal

# Sent after a sync page committed, with `store` and `product_ids` (new or changed products).
products_changed = Signal()
