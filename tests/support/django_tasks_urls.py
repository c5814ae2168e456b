"""A view that enqueues a Django task, for the tests of the TASKS backend."""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from tests.sampleapp.django_tasks import add


@csrf_exempt
def enqueue_add(request: HttpRequest) -> JsonResponse:
    result = add.enqueue(int(request.POST["a"]), int(request.POST["b"]))
    return JsonResponse({"id": result.id, "status": str(result.status)}, status=202)


urlpatterns = [path("add/", enqueue_add, name="enqueue-add")]
