"""Editing a text on the review page: every finding at once, in the reviewer's language, a
blanked bullet point refused, and a refusal that survives a refresh without sending again."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from generation.models import BannedWord
from review import services
from review.models import Review
from review.services import ReviewError
from tenants.scope import tenant_scope
from tests.conftest import client_for

SIX = ["best", "miracle", "guaranteed", "cheapest", "perfect", "number one"]
SIX_TITLE = "Best miracle bottle, guaranteed cheapest, perfect number one"


def item_url(review: Review, action: str = "") -> str:
    url = reverse("review_item", args=[review.pk])
    return f"{url}{action}/" if action else url


@pytest.fixture
def six_banned(desk):
    for term in SIX:
        BannedWord.objects.get_or_create(marketplace="", language="", term=term)
    return desk


def test_an_edit_with_six_banned_words_lists_all_six(six_banned):
    review = six_banned.review(0)
    with tenant_scope(six_banned.tenant), translation.override("en"), \
            pytest.raises(ReviewError) as refused:
        services.edit_and_approve(review, content={"title": SIX_TITLE}, by=six_banned.reviewer)
    assert refused.value.code == "ERR_REVIEW_EDIT_REJECTED"
    assert len(refused.value.details["title"]) == 6
    for term in SIX:
        assert f'"{term}"' in refused.value.message, term
    assert "(findings: 6)" in refused.value.message


def test_the_page_shows_all_six_findings_in_chinese_with_chinese_field_names(six_banned):
    review = six_banned.review(0)
    client = client_for(six_banned.reviewer, six_banned.tenant)
    page = client.post(item_url(review, "edit"), {"c.title": SIX_TITLE},
                       follow=True).content.decode()
    message = re.search(r'class="alert alert-error decision-error"[^>]*>\s*<p><strong>(.*?)'
                        r"</strong>", page, re.S).group(1)
    for term in SIX:
        assert term in message, term
    assert "标题：" in message and "title:" not in message and "Title:" not in message
    assert "违禁词" in message and "banned-word" not in message


def test_a_refused_edit_is_redirected_and_a_refresh_sends_nothing(six_banned):
    review = six_banned.review(0)
    client = client_for(six_banned.reviewer, six_banned.tenant)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.post(item_url(review, "edit"), {"c.title": SIX_TITLE})
    assert response.status_code == 302 and response["Location"] == item_url(review)
    page = client.get(response["Location"]).content.decode()
    assert "ERR_REVIEW_EDIT_REJECTED" in page
    assert f'value="{SIX_TITLE}"' in page  # the reviewer's text stays in the form
    assert 'id="edit-panel" class="panel form-stack">' in page  # and the form stays open
    again = client.get(response["Location"]).content.decode()  # the refresh is a GET
    assert "ERR_REVIEW_EDIT_REJECTED" not in again  # the refusal is shown once


def test_blanking_a_bullet_point_is_refused_and_says_which(desk):
    review = desk.review(0, kind="bullet_points")
    bullets = review.ai_content["bullet_points"]
    client = client_for(desk.reviewer, desk.tenant)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    data = {f"c.bullet_points.{i}": text for i, text in enumerate(bullets)}
    data["c.bullet_points.2"] = "   "
    page = client.post(item_url(review, "edit"), data, follow=True).content.decode()
    assert "ERR_REVIEW_INVALID_CONTENT" in page
    assert "Bullet point 3: This text is empty." in page
    assert "String should have" not in page
    with tenant_scope(desk.tenant):
        review = Review.objects.get(pk=review.pk)
    assert review.status == Review.Status.PENDING and review.edited_content is None


def test_shape_errors_are_in_the_reviewers_language(desk):
    review = desk.review(0, kind="bullet_points")
    client = client_for(desk.reviewer, desk.tenant)  # Chinese by default
    page = client.post(item_url(review, "edit"), {"c.bullet_points.0": "只有一条"},
                       follow=True).content.decode()
    assert "ERR_REVIEW_INVALID_CONTENT" in page
    assert "should have" not in page and "List should" not in page
    assert "卖点" in page
