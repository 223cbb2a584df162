"""Admin for tours, bookings and payments. Money moves only through the services: a payment
staff record starts through the checkout like any other."""

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime

from . import checkout, services
from .gateways import Payer, gateway_for
from .models import (
    MANUAL_METHODS,
    Booking,
    Payment,
    PaymentEvent,
    SeasonalTourPrice,
    Tour,
    Traveler,
)


class SeasonalTourPriceInline(admin.TabularInline):
    model = SeasonalTourPrice
    extra = 0


@admin.register(Tour)
class TourAdmin(admin.ModelAdmin):
    list_display = ("name", "category", "base_price", "child_price", "duration_days", "is_active")
    list_filter = ("is_active", "category")
    search_fields = ("name", "location")
    inlines = [SeasonalTourPriceInline]


@admin.register(SeasonalTourPrice)
class SeasonalTourPriceAdmin(admin.ModelAdmin):
    list_display = ("tour", "start_date", "end_date", "price_per_adult", "price_per_child")
    list_filter = ("tour",)


class TravelerInline(admin.TabularInline):
    model = Traveler
    extra = 0
    formfield_overrides = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 30})}
    }


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def proof_of_payment(payment: Payment) -> str:
    """The payer's photo or PDF, for staff: the picture, or a link that opens the PDF (served
    by the conversations admin to users who may view messages); else its state."""
    proof = payment.proof
    if proof is None:
        return "—"
    if proof.status != "stored":
        return f"{proof.get_status_display()}{f': {proof.error}' if proof.error else ''}"
    url = reverse("admin:conversations_message_media", args=[proof.message_id])
    if proof.mime_type.startswith("image/"):
        return format_html(
            '<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="proof of payment" '
            'style="max-width: 240px; max-height: 240px"></a>',
            url,
            url,
        )
    return format_html(
        '<a href="{}" target="_blank" rel="noopener">Open the proof ({})</a>',
        url,
        proof.filename or "PDF",
    )


class PaymentInline(ReadOnlyInline):
    model = Payment
    fields = (
        "reference",
        "amount",
        "currency",
        "payment_method",
        "status",
        "proof_of_payment",
        "created_at",
    )
    readonly_fields = fields
    show_change_link = True

    @admin.display(description="proof of payment")
    def proof_of_payment(self, obj):
        return proof_of_payment(obj)


class BookingPaymentEventInline(ReadOnlyInline):
    model = PaymentEvent
    fk_name = "payment"
    fields = ("created_at", "old_status", "new_status", "applied", "source", "message")
    readonly_fields = fields


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = (
        "booking_reference",
        "tour",
        "contact",
        "start_date",
        "total_amount",
        "amount_paid",
        "payment_status",
        "source",
        "created_at",
    )
    list_filter = ("payment_status", "source", "start_date", "created_at", "tour")
    date_hierarchy = "start_date"
    search_fields = (
        "booking_reference",
        "email",
        "contact__whatsapp_id",
        "contact__name",
        "travelers__name",
    )
    actions = ["cancel_bookings"]
    readonly_fields = (
        "booking_reference",
        "payment_status",  # follows the money; staff cancel with the action
        "amount_paid",
        "payment_history",
        "created_at",
        "updated_at",
    )
    raw_id_fields = ("contact",)
    inlines = [TravelerInline, PaymentInline]
    list_select_related = ("tour", "contact")

    @admin.action(description="Cancel selected bookings (pending payments are cancelled)")
    def cancel_bookings(self, request, queryset):
        for booking in queryset:
            services.cancel_booking(booking=booking, actor=request.user)
        self.message_user(request, f"{queryset.count()} booking(s) cancelled.", messages.SUCCESS)

    @admin.display(description="Payment history")
    def payment_history(self, obj):
        """Every event of every payment of the booking, oldest first: its money story."""
        if obj is None or obj.pk is None:
            return "—"
        events = (
            PaymentEvent.objects.filter(payment__booking=obj)
            .select_related("payment", "actor")
            .order_by("created_at", "id")
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    localtime(e.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                    e.payment.reference,
                    e.old_status or "—",
                    e.new_status or "—",
                    ("applied" if e.applied else "refused") if e.new_status else "recorded",
                    e.get_source_display() + (f" ({e.actor})" if e.actor else ""),
                    e.message,
                )
                for e in events
            ),
        )
        if not rows:
            return "No payments yet."
        return format_html(
            "<table><thead><tr><th>When</th><th>Payment</th><th>Status</th><th>Change</th>"
            "<th>Source</th><th>Note</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        digits = "".join(ch for ch in search_term if ch.isdigit())
        if len(digits) >= 6:
            # Phone numbers are typed as 0771..., +263 77..., 263771...: match the tail.
            queryset |= self.model.objects.filter(Q(contact__whatsapp_id__endswith=digits[-9:]))
            may_have_duplicates = True
        return queryset, may_have_duplicates

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.payments.exists():
            fields.append("total_amount")  # repricing a booking with money on it is a refund case
        return fields


class PaymentEventInline(ReadOnlyInline):
    model = PaymentEvent
    fields = ("created_at", "old_status", "new_status", "applied", "source", "actor", "message")
    readonly_fields = fields


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = (
        "reference",
        "booking",
        "amount",
        "currency",
        "payment_method",
        "status",
        "created_at",
        "paid_at",
    )
    list_filter = ("status", "payment_method", "created_at")
    search_fields = (
        "reference",
        "booking__booking_reference",
        "phone_number",
        "email",
    )
    inlines = [PaymentEventInline]
    actions = ["mark_as_received", "reject", "record_refund", "check_with_gateway"]
    list_select_related = ("booking",)
    raw_id_fields = ("booking",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    MONEY_FIELDS = (
        "id",
        "booking",
        "amount",
        "currency",
        "payment_method",
        "status",
        "reference",
        "paid_at",
        "created_at",
        "updated_at",
    )
    PAYER_FIELDS = ("phone_number", "email", "notes")

    ADD_FIELDS = (
        "booking",
        "amount",
        "currency",
        "payment_method",
        "phone_number",
        "email",
        "notes",
    )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id is None and request.method == "POST":
            # Adding starts a payment through the checkout, which commits it in its own
            # durable transaction: the admin's usual wrapping transaction would nest it.
            return self._changeform_view(request, object_id, form_url, extra_context)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            # Staff record manual payments; gateway payments start from the conversation.
            return [(None, {"fields": self.ADD_FIELDS})]
        fieldsets = [(None, {"fields": self.MONEY_FIELDS + self.PAYER_FIELDS})]
        if obj.proof_id is not None:
            fieldsets.append(("Proof of payment", {"fields": ["proof_of_payment"]}))
        fieldsets.append(
            ("Gateway details", {"classes": ["collapse"], "fields": ["gateway_details"]})
        )
        return fieldsets

    @admin.display(description="Proof of payment")
    def proof_of_payment(self, obj):
        return proof_of_payment(obj) if obj is not None else "—"

    @admin.display(description="Gateway details")
    def gateway_details(self, obj):
        """What the payment's gateway knows of it (label/value pairs it provides)."""
        gateway = gateway_for(obj.payment_method) if obj is not None else None
        if gateway is None:
            return "—"
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", gateway.staff_details(obj)),
        )

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "payment_method":
            kwargs["choices"] = [c for c in db_field.choices if c[0] in MANUAL_METHODS]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (*self.MONEY_FIELDS, "gateway_details", "proof_of_payment")

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        # New payments start through the checkout (amount, balance and pending checks, an
        # event), like every other payment.
        result = checkout.request_payment(
            booking=obj.booking,
            amount=obj.amount,
            method=obj.payment_method,
            payer=Payer(phone=obj.phone_number, email=obj.email),
            source=PaymentEvent.Source.STAFF,
            actor=request.user,
            notes=obj.notes,
        )
        if result.refused or result.payment is None:
            reason = result.reason.staff_label if result.reason else "Refused."
            self.message_user(request, f"Not recorded: {reason}", messages.ERROR)
            return None
        obj.pk, obj._state.adding = result.payment.pk, False
        return None

    # A payment the checkout refused was never saved: ``_state.adding`` stays True (its
    # UUID primary key is set from the start, so ``pk`` cannot tell).

    def log_addition(self, request, obj, message):
        if not obj._state.adding:  # nothing to log when the checkout refused it
            super().log_addition(request, obj, message)

    def response_add(self, request, obj, post_url_continue=None):
        if obj._state.adding:  # refused by the checkout: the form again, the reason shown
            return HttpResponseRedirect(request.get_full_path())
        return super().response_add(request, obj, post_url_continue)

    def _apply(self, request, queryset, service, verb):
        applied = refused = 0
        for payment in queryset:
            try:
                result = service(payment=payment, actor=request.user)
            except services.PaymentValidationError as exc:
                self.message_user(request, f"{payment.reference}: {exc}", messages.ERROR)
                refused += 1
                continue
            if result.applied:
                applied += 1
            else:
                refused += 1
                self.message_user(
                    request, f"{payment.reference}: {result.reason}", messages.WARNING
                )
        if applied:
            self.message_user(request, f"{applied} payment(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Mark as received (bank transfer, Omari, cash)")
    def mark_as_received(self, request, queryset):
        self._apply(request, queryset, services.mark_payment_received, "marked as received")

    @admin.action(description="Reject")
    def reject(self, request, queryset):
        self._apply(request, queryset, services.reject_payment, "rejected")

    @admin.action(description="Record refund (money already returned to the payer)")
    def record_refund(self, request, queryset):
        self._apply(request, queryset, services.refund_payment, "recorded as refunded")

    @admin.action(
        description="Check with the gateway now (applies what it confirms)",
        permissions=["change"],
    )
    def check_with_gateway(self, request, queryset):
        for payment in queryset:
            gateway = gateway_for(payment.payment_method)
            if gateway is None:
                continue
            status = gateway.check(payment)
            if not status.reachable:
                self.message_user(
                    request,
                    f"{payment.reference}: the gateway could not be asked ({status.detail}).",
                    messages.WARNING,
                )
                continue
            said = f"says {status.gateway_status}; " if status.gateway_status else ""
            flag = f" Flagged for staff: {status.flag}." if status.flag else ""
            self.message_user(
                request,
                f"{payment.reference}: {said}payment {status.payment_status}.{flag}",
                messages.INFO,
            )


@admin.register(PaymentEvent)
class PaymentEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "payment", "old_status", "new_status", "applied", "source")
    list_filter = ("source", "applied", "new_status")
    search_fields = ("payment__reference", "payment__booking__booking_reference")
    readonly_fields = [f.name for f in PaymentEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
