from django.urls import path

from review import views

urlpatterns = [
    path("", views.review_queue, name="review"),
    path("bulk/", views.review_bulk, name="review_bulk"),
    path("settings/", views.review_settings, name="review_settings"),
    path("<int:pk>/", views.review_item, name="review_item"),
    path("<int:pk>/approve/", views.review_approve, name="review_approve"),
    path("<int:pk>/edit/", views.review_edit, name="review_edit"),
    path("<int:pk>/reject/", views.review_reject, name="review_reject"),
    path("<int:pk>/regenerate/", views.review_regenerate, name="review_regenerate"),
    path("<int:pk>/publish/", views.review_publish, name="review_publish"),
]
