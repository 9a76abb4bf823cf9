from django.urls import path

from stores import views

urlpatterns = [
    path("", views.store_list, name="stores"),
    path("add/", views.store_add, name="store_add"),
    path("<int:pk>/", views.store_detail, name="store_detail"),
    path("<int:pk>/reauthorize/", views.store_reauthorize, name="store_reauthorize"),
    path("<int:pk>/revoke/", views.store_revoke, name="store_revoke"),
    path("<int:pk>/archive/", views.store_archive, name="store_archive"),
]
