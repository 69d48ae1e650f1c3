"""Stand-ins for the Hugging Face Hub and the Inference Endpoints control plane, for tests.

Nothing in handler_kit knows about them: they answer the routes, with the JSON, that the
installed huggingface_hub sends and reads, on 127.0.0.1, and a test points the client at
them with ``pointed_at`` (huggingface_hub's own settings, not a patch of its code)::

    with HubStandIn() as hub, EndpointsStandIn(hub) as plane, pointed_at(hub, plane):
        HfApi().create_repo("stand-in-user/my-model")          # the Hub stand-in
        create_inference_endpoint("my-endpoint", ...).wait()   # production's real server
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from .accounts import READ_ONLY, USER, User
from .endpoints import EndpointsStandIn, StandInEndpoint, State, Timing
from .hub import HubStandIn

__all__ = [
    "READ_ONLY",
    "USER",
    "EndpointsStandIn",
    "HubStandIn",
    "StandInEndpoint",
    "State",
    "Timing",
    "User",
    "pointed_at",
]


@contextlib.contextmanager
def pointed_at(
    hub: HubStandIn, plane: EndpointsStandIn | None = None, token: str | None = USER.token
) -> Iterator[None]:
    """huggingface_hub talks to the stand-ins inside the block, and to no one else.

    - ``constants.ENDPOINT`` and the two constants derived from it when huggingface_hub is
      imported (``HUGGINGFACE_CO_URL_TEMPLATE``, the download URL, and ``HF_URL_HOSTS``): what
      ``HF_ENDPOINT`` sets at import. ``HfApi()`` without ``endpoint=`` uses it, so do the
      ``InferenceEndpoint`` objects' own HfApi and every download; the HfApi made at import
      behind the module's functions (``create_inference_endpoint``...) is pointed too.
    - ``constants.INFERENCE_ENDPOINTS_ENDPOINT``: the Inference Endpoints API has no variable
      and ``HfApi(endpoint=...)`` does not move it; every call reads this constant.
    - ``constants.HF_HUB_DISABLE_XET``: with hf_xet installed the client uploads through Xet,
      which the Hub stand-in does not speak; disabled, it uses the LFS batch API.
    - ``constants.HF_HUB_OFFLINE``: ``make test`` sets HF_HUB_OFFLINE=1 (models load from
      local folders); 127.0.0.1 is not the internet.
    - ``HF_TOKEN``: the token every call sends (None: none at all; ``HF_TOKEN_PATH`` names
      no file, so that this machine's ``hf auth login`` is not read either).
    """
    import huggingface_hub.constants as constants
    from huggingface_hub import hf_api

    settings = {
        "ENDPOINT": hub.url,
        "HUGGINGFACE_CO_URL_TEMPLATE": hub.url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_URL_HOSTS": constants.HF_URL_HOSTS | {"127.0.0.1"},
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_OFFLINE": False,
        "HF_TOKEN_PATH": os.path.join(os.path.dirname(__file__), "no-token-here"),
    }
    if plane is not None:
        settings["INFERENCE_ENDPOINTS_ENDPOINT"] = plane.api_url
    saved = {name: getattr(constants, name) for name in settings}
    saved_token = os.environ.pop("HF_TOKEN", None)
    saved_endpoint = hf_api.api.endpoint
    try:
        for name, value in settings.items():
            setattr(constants, name, value)
        hf_api.api.endpoint = hub.url
        if token is not None:
            os.environ["HF_TOKEN"] = token
        yield
    finally:
        hf_api.api.endpoint = saved_endpoint
        for name, value in saved.items():
            setattr(constants, name, value)
        os.environ.pop("HF_TOKEN", None)
        if saved_token is not None:
            os.environ["HF_TOKEN"] = saved_token
