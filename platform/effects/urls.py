from django.urls import path

from effects import views

urlpatterns = [
    path("", views.overview, name="effects"),
    path("stores/<int:pk>/", views.store_effects, name="effects_store"),
    path("listings/<int:pk>/", views.listing_effect, name="effects_listing"),
    path("experiments/", views.experiment_list, name="effects_experiments"),
    path("experiments/<int:pk>/", views.experiment_detail, name="effects_experiment"),
]
