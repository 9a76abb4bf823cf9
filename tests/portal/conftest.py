"""Fixtures for the portal tests: a tenant A full of objects, staff of every role."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from allauth.account.utils import user_pk_to_url_str
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from billing import services as billing_services
from billing import statements as billing_statements
from billing.models import StoreSubscription, UsageStatement
from catalog.models import Product, SyncRun
from generation.models import GenerationItem, GenerationJob
from images.models import GeneratedImage
from review.models import Review
from review.services import enter_review
from stores.models import Store
from tenants import api_keys, services
from tenants.models import ApiKey, Invitation, Membership, Tenant, User, VerificationDocument
from tenants.roles import StaffRole, TenantRole
from tenants.scope import tenant_scope
from tests.conftest import add_member, create_staff
from tests.review.conftest import desk, operator_a, reviewer_a  # noqa: F401 (fixtures)


@dataclass
class TenantWorld:
    """Tenant A with one object of every kind a URL can point at, and its marker strings."""

    tenant: Tenant
    owner: User
    reviewer: User
    owner_membership: Membership
    reviewer_membership: Membership
    invitation: Invitation
    invitation_token: str
    api_key: ApiKey
    raw_api_key: str
    document: VerificationDocument
    email_confirmation_key: str
    password_reset_uidb36: str
    password_reset_key: str
    markers: list[str] = field(default_factory=list)
    store: Store | None = None  # a Temu US store with an encrypted token
    product: Product | None = None  # a synced product of that store
    sync_run: SyncRun | None = None  # that store's finished sync run
    subscription: StoreSubscription | None = None  # that store's active quota-pack subscription
    statement: UsageStatement | None = None  # this month's usage statement, issued to the seller
    review: Review | None = None  # a generated title of that product, waiting for review
    generated_image: GeneratedImage | None = None  # a generated scene of that product


ALPHA_OWNER_EMAIL = "alpha-owner@alpha-trading.example"
ALPHA_REVIEWER_EMAIL = "alpha-reviewer@alpha-trading.example"
ALPHA_INVITEE_EMAIL = "alpha-invitee@alpha-trading.example"
ALPHA_STORE_NAME = "Alpha Sunrise Temu Shop"
# A 1x1 PNG: tenant A's generated image file.
ALPHA_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
                          "0000000c4944415408d763f8ffff3f0005fe02fe0dd4d2a50000000049454e44ae426082")
ALPHA_SHOP_ID = "ALPHA-SHOP-7781"
ALPHA_STORE_TOKEN = "alpha-store-access-token-5c1e"
ALPHA_PRODUCT_TITLE = "Alpha Secret Linen Lantern 8842"
ALPHA_PRODUCT_SKU = "ALPHA-SKU-8842"
ALPHA_AI_TITLE = "Alpha Secret Generated Lantern Title 5521"


@pytest.fixture
def world_a(tenant_a, settings, tmp_path) -> TenantWorld:
    """Tenant A ("Alpha Trading") with members, an invitation, an API key, a document, and
    the keys of its owner's e-mail confirmation and password reset links."""
    settings.MEDIA_ROOT = tmp_path / "media"
    owner = add_member(tenant_a, TenantRole.OWNER, email=ALPHA_OWNER_EMAIL)
    reviewer = add_member(tenant_a, TenantRole.REVIEWER, email=ALPHA_REVIEWER_EMAIL)
    with tenant_scope(tenant_a):
        sent = services.invite_member(tenant=tenant_a, email=ALPHA_INVITEE_EMAIL,
                                      role=TenantRole.OPERATOR, by=owner)
        new_key = api_keys.create_api_key(created_by=owner, name="Alpha ERP")
        document = VerificationDocument.objects.create(
            kind=VerificationDocument.Kind.BUSINESS_LICENCE, uploaded_by=owner,
            file=SimpleUploadedFile("alpha-licence.pdf", b"%PDF-1.4 alpha licence scan"),
        )
        store = Store.objects.create(
            site_code="temu-us", display_name=ALPHA_STORE_NAME, shop_id=ALPHA_SHOP_ID,
            access_token=ALPHA_STORE_TOKEN, token_expires_at=timezone.now() + timedelta(days=30),
            authorized_at=timezone.now(), status=Store.Status.CONNECTED, created_by=owner,
        )
        product = Product.objects.create(
            store=store, marketplace_id="601099999988842", sku=ALPHA_PRODUCT_SKU,
            title=ALPHA_PRODUCT_TITLE, category="Home", content_hash="0" * 64,
            quality_flags=["low_resolution_image"], last_synced_at=timezone.now(),
        )
        sync_run = SyncRun.objects.create(
            store=store, status=SyncRun.Status.SUCCEEDED, requested_by=owner, pages=1,
            total_reported=1, created=1, sku_limit=5000, finished_at=timezone.now(),
        )
        pack = billing_services.create_pack(code="standard", name="Standard", by=None,
                                            terms=billing_services.STANDARD_TERMS)
        subscription = billing_services.subscribe_store(store, pack, by=None)
        statement = billing_statements.draw_up(tenant_a, subscription.starts_on)
        UsageStatement.objects.filter(pk=statement.pk).update(
            status=UsageStatement.Status.ISSUED)
        job = GenerationJob.objects.create(store=store, created_by=owner, kinds=["title"],
                                           languages=["en"], status=GenerationJob.Status.COMPLETED,
                                           items_total=1, items_succeeded=1)
        item = GenerationItem.objects.create(job=job, store=store, product=product, kind="title",
                                             language="en", status=GenerationItem.Status.READY,
                                             content={"title": ALPHA_AI_TITLE})
        review = enter_review(item)
        generated_image = GeneratedImage(product=product, source_sha256="0" * 64,
                                         preset="white-studio", prompt="-", node_name="-",
                                         width=1, height=1, phash="0" * 16)
        generated_image.file.save("alpha.png", SimpleUploadedFile("alpha.png", ALPHA_PNG))
        owner_membership = Membership.objects.get(user=owner)
        reviewer_membership = Membership.objects.get(user=reviewer)
    email_address = EmailAddress.objects.get(user=owner, email=ALPHA_OWNER_EMAIL)
    return TenantWorld(
        tenant=tenant_a, owner=owner, reviewer=reviewer,
        owner_membership=owner_membership, reviewer_membership=reviewer_membership,
        invitation=sent.invitation, invitation_token=sent.token,
        api_key=new_key.api_key, raw_api_key=new_key.raw_key, document=document,
        email_confirmation_key=EmailConfirmationHMAC(email_address).key,
        password_reset_uidb36=user_pk_to_url_str(owner),
        password_reset_key=default_token_generator.make_token(owner),
        markers=[tenant_a.name, tenant_a.licence_number, ALPHA_OWNER_EMAIL,
                 ALPHA_REVIEWER_EMAIL, ALPHA_INVITEE_EMAIL, "Alpha ERP",
                 f"lk_{new_key.api_key.prefix}_", "alpha licence scan",
                 ALPHA_STORE_NAME, ALPHA_SHOP_ID, ALPHA_STORE_TOKEN, ALPHA_PRODUCT_TITLE,
                 ALPHA_PRODUCT_SKU, ALPHA_AI_TITLE],
        store=store, product=product, sync_run=sync_run, subscription=subscription,
        statement=statement, review=review, generated_image=generated_image,
    )


@pytest.fixture
def support_staff(db) -> User:
    return create_staff(StaffRole.SUPPORT)


@pytest.fixture
def finance_staff(db) -> User:
    return create_staff(StaffRole.FINANCE)
