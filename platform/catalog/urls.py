from django.urls import path

from catalog import views

urlpatterns = [
    path("", views.product_list, name="catalog"),
    path("stores/<int:store_id>/sync/", views.sync_now, name="catalog_sync_now"),
    path("sync-runs/<int:pk>/progress/", views.sync_run_progress, name="catalog_sync_progress"),
]
