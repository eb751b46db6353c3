"""A DRF permission that keeps every labeler's annotations their own (embedded server only).

Community has no roles: any member may PATCH or DELETE another member's
annotation, and the Data Manager opens the first annotation of a task, so a
second labeler's Submit silently replaced the first one's labels. Here only the
annotation's author may change it; the organization owner (the admin) may only
star it as ground truth or delete it. Submitting in someone else's name, deleting
tasks or projects and the Data Manager's destructive bulk actions are left to the
owner too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

OWNER_ONLY_ACTIONS = frozenset(
    {"delete_tasks", "delete_tasks_annotations", "delete_tasks_predictions", "remove_duplicates",
     "rename_labels"}
)  # fmt: skip
NOT_YOURS = (
    "This annotation belongs to another labeler and cannot be changed. Open the task from "
    "'Label All Tasks' (or add your own annotation with '+') to label it yourself."
)


def _is_owner(user: Any) -> bool:
    """The organization's owner: in Community, the admin who created it."""
    return bool(getattr(user, "is_authenticated", False) and user.own_organization is not None)


class OwnWorkOnly(BasePermission):
    message = NOT_YOURS

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method in SAFE_METHODS or _is_owner(request.user):
            return True
        name = view.__class__.__name__
        if name == "ProjectActionsAPI" and request.query_params.get("id") in OWNER_ONLY_ACTIONS:
            self.message = "Only the admin (organization owner) may run this action."
            return False
        if name == "AnnotationsListAPI" and hasattr(request.data, "get"):
            author = request.data.get("completed_by")
            if author not in (None, request.user.id, str(request.user.id)):
                self.message = "You can only submit annotations as yourself."
                return False
        return True

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        kind = obj.__class__.__name__
        if kind == "Annotation":
            if obj.completed_by_id in (None, request.user.id):
                return True
            self.message = NOT_YOURS
            if not _is_owner(request.user):
                return False
            fields = set(request.data) if hasattr(request.data, "keys") else set()
            return request.method == "DELETE" or fields <= {"ground_truth"}
        if kind in ("Task", "Project") and request.method == "DELETE":
            self.message = f"Only the admin (organization owner) may delete a {kind.lower()}."
            return _is_owner(request.user)
        return True
