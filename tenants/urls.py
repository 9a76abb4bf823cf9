from django.urls import path

from tenants import console_views, views

portal_urlpatterns = [
    path("members/", views.members, name="members"),
    path("members/<int:pk>/role/", views.member_role, name="member_role"),
    path("members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path("invitations/<int:pk>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("api-keys/", views.api_key_list, name="api_keys"),
    path("api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("company/", views.company, name="company"),
    path("company/documents/<int:pk>/", views.document_download, name="company_document"),
    path("switch/", views.switch_tenant, name="switch_tenant"),
]

# Public: anyone may sign a company up (allauth's sign-up rate limit applies).
public_urlpatterns = [
    path("signup/", views.company_signup, name="company_signup"),
]

console_urlpatterns = [
    path("tenants/", console_views.tenant_list, name="console_tenants"),
    path("tenants/<slug:slug>/documents/<int:pk>/", console_views.document_download,
         name="console_tenant_document"),
    path("tenants/<slug:slug>/<str:action>/", console_views.tenant_action,
         name="console_tenant_action"),
]
