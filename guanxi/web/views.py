from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpResponse
from django.shortcuts import render

from guanxi.customers import selectors
from guanxi.customers.models import Customer


@login_required
def dashboard(request):
    """Real numbers only: customers the user can see, by lifecycle stage and grade."""
    by_stage = selectors.counts_by(request.user, "stage")
    by_grade = selectors.counts_by(request.user, "grade")
    stages = [(value, label, by_stage.get(value, 0)) for value, label in Customer.Stage.choices]
    grades = [(value, value, by_grade.get(value, 0)) for value in Customer.Grade.values]
    return render(
        request,
        "web/dashboard.html",
        {
            "stages": stages,
            "grades": grades,
            "ungraded": by_grade.get("", 0),
            "total": sum(by_stage.values()),
        },
    )


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")
