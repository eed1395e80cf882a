"""Account pages: log in/out, password change and reset, profile, API tokens, and the
administration of users and teams. Thin: parse the form, call the service, render."""

import functools

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.accounts import forms, selectors, services
from guanxi.accounts.roles import ROLE_CHOICES, Action, can
from guanxi.core.errors import NotFound, PermissionDenied, ServiceError


def set_language_cookie(response, language: str) -> None:
    """Make the user's own language the one LocaleMiddleware picks from now on."""
    if not language:
        return
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


def admin_required(view):
    """Logged in and allowed to manage users, or 403. Service refusals become 403/404."""

    @functools.wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not can(request.user, Action.MANAGE_USERS):
            raise DjangoPermissionDenied
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied from exc
        except NotFound as exc:
            raise Http404 from exc

    return wrapper


# Logging in and out


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = forms.LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        form.clear_failures()
        response = super().form_valid(form)
        language = form.get_user().language
        if language:
            translation.activate(language)
            set_language_cookie(response, language)
        return response


class LogoutView(auth_views.LogoutView):
    """POST only (Django refuses GET), so a link in an e-mail cannot log anyone out."""


# Passwords


@login_required
def password_change(request):
    form = forms.PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.password_change(
                actor=request.user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password1"],
            )
        except ServiceError as exc:
            forms.apply_errors(form, exc, aliases={"new_password": "new_password1"})
        else:
            update_session_auth_hash(request, request.user)
            messages.success(request, _("Your password was changed."))
            return redirect("accounts:profile")
    return render(request, "accounts/password_change.html", {"form": form})


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["timeout_hours"] = max(1, settings.PASSWORD_RESET_TIMEOUT // 3600)
        return context


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        services.password_reset_completed(user=form.user)
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


# Profile and tokens


@login_required
def profile(request):
    user = request.user
    initial = {k: getattr(user, k) for k in services.PROFILE_FIELDS}
    form = forms.ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.profile_update(actor=user, data=form.cleaned_data)
        except ServiceError as exc:
            forms.apply_errors(form, exc)
        else:
            if user.language:
                translation.activate(user.language)
            messages.success(request, _("Your profile was saved."))
            response = redirect("accounts:profile")
            set_language_cookie(response, user.language)
            return response
    return render(request, "accounts/profile.html", {"form": form})


@login_required
def tokens(request):
    form = forms.TokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            token, raw = services.token_create(actor=request.user, name=form.cleaned_data["name"])
        except ServiceError as exc:
            forms.apply_errors(form, exc)
        else:
            # Rendered, not redirected: the raw token is never stored, so it is shown
            # in this one response and nowhere else.
            created = {"token": token, "raw": raw}
            form = forms.TokenForm()
    rows = selectors.token_list(user=request.user)
    response = render(
        request, "accounts/tokens.html", {"form": form, "created": created, "rows": rows}
    )
    if created:
        response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request, token_id: int):
    try:
        token = selectors.token_get_for_user(user=request.user, id=token_id)
    except NotFound as exc:
        raise Http404 from exc
    services.token_revoke(actor=request.user, token=token)
    messages.success(request, _("The token “%(name)s” was revoked.") % {"name": token.name})
    return redirect("accounts:tokens")


# Users and teams (administrators)


def _filter_value(request, key):
    value = request.GET.get(key, "").strip()
    return value or None


@admin_required
def users(request):
    active_raw = request.GET.get("active", "1")
    active = {"1": True, "0": False}.get(active_raw)
    rows = selectors.user_list(
        actor=request.user,
        q=_filter_value(request, "q"),
        role=_filter_value(request, "role"),
        team=_filter_value(request, "team"),
        active=active,
    )
    return render(
        request,
        "accounts/users.html",
        {
            "rows": rows,
            "roles": ROLE_CHOICES,
            "teams": selectors.team_list(actor=request.user),
            "filters": {
                "q": request.GET.get("q", ""),
                "role": request.GET.get("role", ""),
                "team": request.GET.get("team", ""),
                "active": active_raw,
            },
        },
    )


@admin_required
def user_create(request):
    form = forms.UserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_create(actor=request.user, data=form.service_data())
        except ServiceError as exc:
            forms.apply_errors(form, exc)
        else:
            messages.success(request, _("User “%(name)s” was created.") % {"name": user})
            return redirect("accounts:users")
    return render(request, "accounts/user_form.html", {"form": form, "subject": None})


@admin_required
def user_edit(request, user_id: int):
    subject = selectors.user_get_for_admin(actor=request.user, id=user_id)
    form = forms.UserForm(request.POST or None, instance=subject)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(actor=request.user, user=subject, data=form.service_data())
        except ServiceError as exc:
            forms.apply_errors(form, exc)
        else:
            messages.success(request, _("User “%(name)s” was saved.") % {"name": subject})
            return redirect("accounts:users")
    return render(request, "accounts/user_form.html", {"form": form, "subject": subject})


@admin_required
@require_POST
def user_deactivate(request, user_id: int):
    subject = selectors.user_get_for_admin(actor=request.user, id=user_id)
    try:
        services.user_deactivate(actor=request.user, user=subject)
    except ServiceError as exc:
        for errors in exc.field_errors.values():
            for message in errors:
                messages.error(request, message)
        return redirect("accounts:user_edit", user_id=subject.pk)
    messages.success(request, _("User “%(name)s” was deactivated.") % {"name": subject})
    return redirect("accounts:users")


@admin_required
def teams(request):
    return render(request, "accounts/teams.html", {"rows": selectors.team_list(actor=request.user)})


@admin_required
def team_create(request):
    form = forms.TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = services.team_create(actor=request.user, data=form.cleaned_data)
        except ServiceError as exc:
            forms.apply_errors(form, exc)
        else:
            messages.success(request, _("Team “%(name)s” was created.") % {"name": team})
            return redirect("accounts:teams")
    return render(request, "accounts/team_form.html", {"form": form, "team": None})


@admin_required
def team_edit(request, team_id: int):
    team = selectors.team_get_for_admin(actor=request.user, id=team_id)
    initial = {"name": team.name, "manager": team.manager_id}
    form = forms.TeamForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.team_update(actor=request.user, team=team, data=form.cleaned_data)
        except ServiceError as exc:
            forms.apply_errors(form, exc)
        else:
            messages.success(request, _("Team “%(name)s” was saved.") % {"name": team})
            return redirect("accounts:teams")
    members = team.members.filter(is_active=True).order_by("username")
    return render(
        request, "accounts/team_form.html", {"form": form, "team": team, "members": members}
    )
