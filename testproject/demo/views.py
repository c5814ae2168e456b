from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from .tasks import check_status, flaky_import, send_welcome_email


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/home.html")


@require_POST
def enqueue(request: HttpRequest) -> JsonResponse:
    """Enqueue the on-demand examples; ``runscheduler`` runs them."""
    user_id = int(request.POST.get("user_id", 1))
    ids = [
        send_welcome_email.enqueue(user_id).id,
        send_welcome_email.enqueue(user_id, template="reminder", delay=10).id,
        check_status.enqueue("database").id,
        flaky_import.enqueue(f"user-{user_id}").id,
    ]
    return JsonResponse({"enqueued": ids})
