"""Django settings for the embedded Label Studio: its own, plus the guard in webcare_ls_guard.

Label Studio Community lets every member change or delete any annotation. The
embedded server starts with DJANGO_SETTINGS_MODULE pointing here (see
labeling/server.py), so labelers cannot overwrite each other's work. This file
runs inside Label Studio's own venv, never in the project's.
"""

import os

# Label Studio's settings read django.conf.settings while they load; let that nested read
# see their module (as on a normal start), then hand Django this one.
os.environ["DJANGO_SETTINGS_MODULE"] = "label_studio.core.settings.label_studio"
from label_studio.core.settings.label_studio import *  # noqa: E402, F403
from label_studio.core.settings.label_studio import REST_FRAMEWORK  # noqa: E402

os.environ["DJANGO_SETTINGS_MODULE"] = __name__

REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_PERMISSION_CLASSES": [
        *REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"],
        "webcare_ls_guard.OwnWorkOnly",
    ],
}

# DRF copies DEFAULT_PERMISSION_CLASSES onto APIView when rest_framework.views is first
# imported, which Label Studio's settings do above, before this file can add the guard.
from rest_framework import views  # noqa: E402
from webcare_ls_guard import OwnWorkOnly  # noqa: E402

if OwnWorkOnly not in views.APIView.permission_classes:
    views.APIView.permission_classes = [*views.APIView.permission_classes, OwnWorkOnly]
