from django.urls import path

from generation import views

urlpatterns = [
    path("", views.job_list, name="jobs"),
    path("new/", views.job_new, name="job_new"),
    path("new/estimate/", views.job_estimate, name="job_estimate"),
    path("settings/", views.generation_settings, name="generation_settings"),
    path("settings/banned-words/<int:pk>/delete/", views.banned_word_delete,
         name="banned_word_delete"),
    path("<int:pk>/", views.job_detail, name="job_detail"),
    path("<int:pk>/progress/", views.job_progress, name="job_progress"),
    path("<int:pk>/cancel/", views.job_cancel, name="job_cancel"),
    path("<int:pk>/retry/", views.job_retry, name="job_retry"),
]
