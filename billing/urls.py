from django.urls import path

from billing import views

portal_urlpatterns = [
    path("usage/", views.usage, name="usage"),
    path("usage/overage-cap/", views.overage_cap, name="usage_overage_cap"),
    path("usage/trial/", views.start_trial, name="usage_start_trial"),
    path("usage/statements/", views.statements, name="statements"),
    path("usage/statements/<int:pk>/", views.statement, name="statement"),
    path("usage/statements/<int:pk>/export/<str:fmt>/", views.statement_export,
         name="statement_export"),
]

console_urlpatterns = [
    path("finance/usage/", views.finance_usage, name="finance_usage"),
    path("finance/invoices/", views.finance_invoices, name="finance_invoices"),
    path("finance/statements/<int:pk>/", views.finance_statement, name="finance_statement"),
    path("finance/statements/<int:pk>/status/", views.finance_statement_status,
         name="finance_statement_status"),
    path("finance/statements/<int:pk>/pay/", views.finance_statement_pay,
         name="finance_statement_pay"),
    path("finance/statements/<int:pk>/comment/", views.finance_statement_comment,
         name="finance_statement_comment"),
    path("finance/statements/<int:pk>/export/<str:fmt>/", views.finance_statement_export,
         name="finance_statement_export"),
    path("finance/statements/draw-up/", views.finance_draw_up, name="finance_draw_up"),
    path("finance/stores-waiting/", views.finance_waiting_stores,
         name="finance_waiting_stores"),
    path("finance/reconciliation/", views.finance_reconciliation,
         name="finance_reconciliation"),
]
