from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenants.access import member_required


@member_required()
def job_list(request: HttpRequest) -> HttpResponse:
    return render(request, "generation/job_list.html")
