"""Error pages: JSON under /api/, as every API client expects; Django's own pages elsewhere."""

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def _json_for_api(page: Any, status: int, detail: str) -> Any:
    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": detail}, status=status)
        return page(request, *args, **kwargs)

    return view


bad_request = _json_for_api(defaults.bad_request, 400, "Bad request.")
permission_denied = _json_for_api(defaults.permission_denied, 403, "Permission denied.")
page_not_found = _json_for_api(defaults.page_not_found, 404, "Not found.")
server_error = _json_for_api(defaults.server_error, 500, "Something went wrong on our side.")
