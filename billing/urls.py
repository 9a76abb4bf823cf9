from django.urls import path

from billing import views

portal_urlpatterns = [
    path("usage/", views.usage, name="usage"),
    path("usage/overage-cap/", views.overage_cap, name="usage_overage_cap"),
]

console_urlpatterns = [
    path("finance/usage/", views.finance_usage, name="finance_usage"),
    path("finance/invoices/", views.finance_invoices, name="finance_invoices"),
]
