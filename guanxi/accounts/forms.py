"""Forms for the account pages. They render fields and parse what was typed; the rules
(unique username, strong password, valid role ...) live in services, whose field
errors ``apply_errors`` puts back on the form."""

import zoneinfo

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from guanxi.accounts import throttle
from guanxi.accounts.models import Team, User
from guanxi.accounts.roles import ROLE_CHOICES
from guanxi.core.errors import ServiceError


def apply_errors(form: forms.Form, exc: ServiceError, aliases: dict | None = None) -> None:
    """Show a service's field errors on the matching form fields (others on top)."""
    aliases = aliases or {}
    if not exc.field_errors:
        form.add_error(None, str(exc.message))
    for key, messages in exc.field_errors.items():
        field = aliases.get(key, key)
        for message in messages:
            form.add_error(field if field in form.fields else None, message)


def locked_message(lock: throttle.Lock) -> str:
    minutes = lock.minutes_left
    return ngettext(
        "Too many failed log-ins: this account is locked on this device for %(minutes)d "
        "more minute. Try again later or reset your password.",
        "Too many failed log-ins: this account is locked on this device for %(minutes)d "
        "more minutes. Try again later or reset your password.",
        minutes,
    ) % {"minutes": minutes}


class LoginForm(AuthenticationForm):
    """Django's login form with throttling by account + IP address."""

    locked = False

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].widget.attrs.update(
            {"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        )
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})

    def _ip(self) -> str | None:
        return throttle.client_ip(self.request) if self.request is not None else None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if not username or not password:
            return super().clean()
        lock = throttle.lock_status(username, self._ip())
        if lock is not None:
            # While locked, the password is not checked at all, right or wrong.
            self.locked = True
            raise ValidationError(locked_message(lock), code="locked")
        try:
            return super().clean()
        except ValidationError:
            lock = throttle.record_failure(username, self._ip())
            if lock is not None:
                self.locked = True
                raise ValidationError(locked_message(lock), code="locked") from None
            raise

    def clear_failures(self) -> None:
        throttle.clear_failures(self.cleaned_data["username"], self._ip())
        user = self.get_user()
        if user is not None and user.username != self.cleaned_data["username"]:
            throttle.clear_failures(user.username, self._ip())


def language_choices():
    return [("", _("Browser default"))] + [(code, name) for code, name in settings.LANGUAGES]


def time_zone_choices():
    zones = sorted(
        z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc/")
    )
    default = _("Default (%(zone)s)") % {"zone": settings.TIME_ZONE}
    return [("", default)] + [(z, z.replace("_", " ")) for z in zones]


class ProfileForm(forms.Form):
    display_name = forms.CharField(label=_("Display name"), max_length=100, required=False)
    email = forms.CharField(
        label=_("E-mail"),
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text=_("Password reset links are sent here."),
    )
    phone = forms.CharField(label=_("Phone"), required=False)
    language = forms.ChoiceField(label=_("Language"), required=False, choices=language_choices)
    time_zone = forms.ChoiceField(label=_("Time zone"), required=False, choices=time_zone_choices)


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(
        label=_("Current password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    new_password1 = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    new_password2 = forms.CharField(
        label=_("New password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if (
            data.get("new_password1")
            and data.get("new_password2")
            and data["new_password1"] != data["new_password2"]
        ):
            self.add_error("new_password2", _("The two passwords do not match."))
        return data


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What the token is for, e.g. “shop sync” or “BI export”."),
    )


class UserForm(forms.Form):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"}),
    )
    display_name = forms.CharField(label=_("Display name"), max_length=100, required=False)
    email = forms.CharField(label=_("E-mail"), required=False, widget=forms.EmailInput())
    phone = forms.CharField(label=_("Phone"), required=False)
    role = forms.ChoiceField(label=_("Role"), choices=ROLE_CHOICES)
    team = forms.ModelChoiceField(
        label=_("Team"),
        queryset=Team.objects.order_by("name"),
        required=False,
        empty_label=_("No team"),
    )
    language = forms.ChoiceField(label=_("Language"), required=False, choices=language_choices)
    time_zone = forms.ChoiceField(label=_("Time zone"), required=False, choices=time_zone_choices)
    password = forms.CharField(
        label=_("Initial password"),
        strip=False,
        required=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Give it to the user; they can change it under My account → Password."),
    )
    is_active = forms.BooleanField(label=_("Active (may log in)"), required=False)

    def __init__(self, *args, instance: User | None = None, **kwargs):
        self.instance = instance
        if instance is not None:
            kwargs.setdefault(
                "initial",
                {
                    "username": instance.username,
                    "display_name": instance.display_name,
                    "email": instance.email,
                    "phone": instance.phone,
                    "role": instance.role,
                    "team": instance.team_id,
                    "language": instance.language,
                    "time_zone": instance.time_zone,
                    "is_active": instance.is_active,
                },
            )
        else:
            # The least powerful common role, never administrator by accident.
            kwargs.setdefault("initial", {"role": "sales"})
        super().__init__(*args, **kwargs)
        if instance is None:
            del self.fields["is_active"]
        else:
            password = self.fields["password"]
            password.required = False
            password.label = _("New password")
            password.help_text = _("Leave empty to keep the current password.")

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        if not data.get("password"):
            data.pop("password", None)
        return data


class TeamForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    manager = forms.ModelChoiceField(
        label=_("Manager"),
        queryset=User.objects.filter(is_active=True).order_by("username"),
        required=False,
        empty_label=_("No manager"),
    )
