from django.urls import path

from images import views

urlpatterns = [
    path("products/<int:pk>/", views.product_images, name="images_product"),
    path("generated/<int:pk>/<str:decision>/", views.review_generated,
         name="images_review_generated"),
    path("files/<str:kind>/<int:pk>/", views.image_file, name="images_file"),
]
