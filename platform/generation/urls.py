from django.urls import path

from generation import views

urlpatterns = [
    path("", views.job_list, name="jobs"),
]
