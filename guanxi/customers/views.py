from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from guanxi.customers import selectors


@login_required
def customer_list(request):
    rows, next_cursor = selectors.customer_list(user=request.user, params=request.GET.dict())
    return render(request, "customers/list.html", {"rows": rows, "next_cursor": next_cursor})


@login_required
def placeholder(request):
    return render(request, "customers/list.html", {"rows": [], "next_cursor": None})
