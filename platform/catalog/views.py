from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenants.access import member_required


@member_required()
def product_list(request: HttpRequest) -> HttpResponse:
    return render(request, "catalog/product_list.html")
