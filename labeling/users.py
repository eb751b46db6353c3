"""Labeler accounts: `webcare label add-user EMAIL` makes one and shows its login once.

Label Studio's users API creates a user without a password (nobody could log in),
so the account is made the way an invited person makes it: the organization's
invite token from the API, then its sign-up form with a random password. The
password is printed once and stored nowhere.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labeling.client import LabelingError

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def is_email(text: str) -> bool:
    return bool(_EMAIL.match(text.strip()))


@dataclass(frozen=True)
class NewUser:
    id: int
    email: str
    password: str


def add_user(ls: LabelStudio, url: str, email: str, *, timeout: float = 60.0) -> NewUser:
    """Create a member of the admin's organization who can log in with the returned password."""
    import httpx

    email = email.strip().lower()
    if not is_email(email):
        raise LabelingError(f"{email!r} is not an e-mail address")
    if any((u.email or "").lower() == email for u in ls.users.list()):
        raise LabelingError(f"a Label Studio user {email} already exists")
    token = ls.organizations.invites.get_invite_link().token
    password = secrets.token_urlsafe(12)
    signup = f"{url}/user/signup/?token={token}"
    with httpx.Client(timeout=timeout, follow_redirects=False) as web:
        form = web.get(signup)
        csrf = web.cookies.get("csrftoken")
        if form.status_code != 200 or not csrf:
            raise LabelingError(f"Label Studio at {url}: sign-up page answered {form.status_code}")
        answer = web.post(
            signup,
            data={"csrfmiddlewaretoken": csrf, "email": email, "password": password},
            headers={"Referer": signup},
        )
    if answer.status_code != 302:
        found = re.findall(r'class="[^"]*error[^"]*"[^>]*>\s*([^<]{3,200})', answer.text)
        reason = found[0].strip() if found else f"HTTP {answer.status_code}"
        raise LabelingError(f"Label Studio at {url} refused to create {email}: {reason}")
    for user in ls.users.list():
        if (user.email or "").lower() == email:
            return NewUser(int(user.id), email, password)
    raise LabelingError(f"Label Studio at {url} did not create {email}")
