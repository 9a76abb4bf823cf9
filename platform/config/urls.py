from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from audit import views as audit_views
from billing import api as billing_api
from billing import urls as billing_urls
from billing import webhooks as billing_webhooks
from catalog import api as catalog_api
from effects import api as effects_api
from generation import api as generation_api
from generation import console_urls as generation_console_urls
from operations import views as operations_views
from portal import console_tenants as portal_console_tenants
from portal import views as portal_views
from review import api as review_api
from stores import api as store_api
from tenants import api as tenant_api
from tenants import urls as tenant_urls
from tenants import views as tenant_views

api_router = DefaultRouter(trailing_slash=True)
api_router.include_root_view = False
api_router.register("members", tenant_api.MemberViewSet, basename="member")
api_router.register("subscriptions", billing_api.SubscriptionViewSet, basename="subscription")
api_router.register("usage/today", billing_api.UsageTodayViewSet, basename="usage-today")
api_router.register("products", catalog_api.ProductViewSet, basename="product")
api_router.register("sync-runs", catalog_api.SyncRunViewSet, basename="sync-run")
api_router.register("stores", store_api.StoreViewSet, basename="store")
api_router.register("jobs", generation_api.JobViewSet, basename="job")
api_router.register("job-items", generation_api.JobItemViewSet, basename="job-item")
api_router.register("reviews", review_api.ReviewViewSet, basename="review")
api_router.register("effects/listings", effects_api.EffectListingViewSet,
                    basename="effect-listing")
api_router.register("effects/experiments", effects_api.ExperimentViewSet,
                    basename="experiment")

api_urlpatterns = [
    path("me/", tenant_api.me, name="api_me"),
    path("review-settings/", review_api.review_settings, name="api_review_settings"),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # The split view serves its start-up script as a file: no inline script for the CSP.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema"), name="api_docs"),
    *api_router.urls,
]

portal_urlpatterns = [
    path("", portal_views.dashboard, name="dashboard"),
    path("stores/", include("stores.urls")),
    path("catalog/", include("catalog.urls")),
    path("images/", include("images.urls")),
    path("jobs/", include("generation.urls")),
    path("review/", include("review.urls")),
    path("effects/", include("effects.urls")),
    path("audit/", audit_views.audit_trail, name="audit_trail"),
    *billing_urls.portal_urlpatterns,
    *tenant_urls.portal_urlpatterns,
]

console_urlpatterns = [
    path("", portal_views.console_home, name="console_home"),
    path("tenants/<slug:slug>/", portal_console_tenants.tenant_detail, name="console_tenant"),
    *tenant_urls.console_urlpatterns,
    *billing_urls.console_urlpatterns,
    *generation_console_urls.console_urlpatterns,
]

urlpatterns = [
    path("", portal_views.home, name="home"),
    path("healthz", operations_views.healthz, name="healthz"),
    path("readyz", operations_views.readyz, name="readyz"),
    path("metrics", operations_views.metrics, name="metrics"),
    # Public, but every request must carry a valid Stripe signature (billing/webhooks.py).
    path("billing/stripe/webhook/", billing_webhooks.stripe_webhook, name="stripe_webhook"),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include(tenant_urls.public_urlpatterns)),
    path("invitations/<str:token>/", tenant_views.invitation_accept, name="invitation_accept"),
    path("portal/", include(portal_urlpatterns)),
    path("console/", include(console_urlpatterns)),
    path("api/v1/", include(api_urlpatterns)),
    path("admin/", admin.site.urls),
]

handler400 = "portal.views.bad_request"
handler403 = "portal.views.permission_denied"
handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"
