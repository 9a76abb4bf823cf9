from django.urls import path

from stores import views

urlpatterns = [
    path("", views.store_list, name="stores"),
]
