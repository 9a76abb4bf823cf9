from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenants.access import member_required


@member_required()
def review_queue(request: HttpRequest) -> HttpResponse:
    return render(request, "review/review_queue.html")
