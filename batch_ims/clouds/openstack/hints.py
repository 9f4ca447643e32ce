"""What to check after Keystone or Glance refused the run's credentials."""

from __future__ import annotations

from batch_ims.redaction import one_line

_MESSAGE_LIMIT = 160


def failure_hint(
    *, code: str, message: str, cloud: str, region: str | None, project_id: str | None
) -> str:
    """One line: the answer, the likely cause, and what in clouds.yaml to check."""
    answer = f"{code}: {one_line(message, _MESSAGE_LIMIT)}" if message else code
    lowered = message.lower()
    if code == "HTTP_403" or "forbidden" in lowered or "policy" in lowered:
        cause = "the user is signed in but its role may not modify images (Glance policy)"
    elif "expire" in lowered:
        cause = "the Keystone token has expired"
    else:
        cause = "Keystone's token was refused by the image service"
    scope = f"project id {project_id}" if project_id else "the project"
    where = f"region {region}" if region else "the region"
    return (
        f"authentication failed ({answer}); likely cause: {cause}; check cloud {cloud!r} in "
        f"clouds.yaml (auth_url, the user or application credential, {scope}, {where}) "
        "and the user's role on the project"
    )
