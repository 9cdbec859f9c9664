"""Job dir names safe for any override value: percent-encoded where a character could nest the dir (`/`) or
trouble a shell or file system, and cut (with a hash of the whole, so names stay distinct) where too long."""

import hashlib
from urllib.parse import quote

from omegaconf import OmegaConf

KEPT = "=,+@-._[]"  # besides letters and digits
LONGEST = 150  # characters; file systems allow 255 bytes


def safe_name(text: str) -> str:
    name = quote(str(text), safe=KEPT)
    if len(name) > LONGEST:
        name = f"{name[: LONGEST - 9]}~{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return name


def register_resolver() -> None:
    """`${safe_name:...}` for configs/hydra/default.yaml; registered before Hydra resolves a job's dir."""
    OmegaConf.register_new_resolver("safe_name", safe_name, replace=True)
