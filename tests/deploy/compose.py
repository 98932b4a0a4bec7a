"""docker-compose.yml as data: its services, with `${VAR:-default}` interpolated as compose would."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value: Any, environ: dict[str, str] | None = None) -> Any:
    """Compose's `${VAR}` / `${VAR:-default}` interpolation, with an empty environment by default."""
    environ = environ or {}
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: environ.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, list):
        return [interpolate(v, environ) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, environ) for k, v in value.items()}
    return value


def services() -> dict[str, dict[str, Any]]:
    """Every service, anchors merged (`<<: *aws-environment`) and variables at their defaults."""
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text())["services"])


def environment(service: str) -> dict[str, str]:
    env = services()[service].get("environment") or {}
    if isinstance(env, list):  # the `- KEY=value` form
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}
