from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("enqueue/", views.enqueue, name="enqueue"),
]
