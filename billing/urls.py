from django.urls import path

from billing import views

portal_urlpatterns = [
    path("usage/", views.usage, name="usage"),
]

console_urlpatterns = [
    path("finance/usage/", views.finance_usage, name="finance_usage"),
    path("finance/invoices/", views.finance_invoices, name="finance_invoices"),
]
