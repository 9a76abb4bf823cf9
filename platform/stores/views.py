from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenants.access import member_required


@member_required()
def store_list(request: HttpRequest) -> HttpResponse:
    return render(request, "stores/store_list.html")
