from django.urls import path

from . import views

app_name = "paynow"
urlpatterns = [
    path("ipn/", views.paynow_ipn, name="ipn"),
    path("return/", views.paynow_return, name="return"),
]
