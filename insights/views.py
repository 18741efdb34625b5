"""The insights page: what the AI costs and how good it is, for staff."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ai_assist import calibration, metrics, usage
from insights import figures

PERIODS = (7, 30, 90, 365)  # days
DEFAULT_PERIOD = 30


@login_required
def insights(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied
    days = request.GET.get("days", "")
    days = int(days) if days.isdigit() and int(days) in PERIODS else DEFAULT_PERIOD
    report = metrics.report(days=days)
    context = {
        "report": report,
        "days": days,
        "periods": PERIODS,
        "charts": figures.charts(report),
        "total_cost": usage.usd(report.total.cost),
        "per_user": [(user, usage.usd(user.cost)) for user in report.per_user],
        "min_reviews": calibration.MIN_REVIEWS,
        "change_units": figures.CHANGE_UNITS,
    }
    return render(request, "insights/index.html", context)
