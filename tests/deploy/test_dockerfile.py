"""The Dockerfile: hadolint clean, pinned, non-root, no compilers, signals reach icewatch.

No Docker engine here or in CI: the image isn't built in tests. What its stages do (pip install from
constraints.txt, as wheels) is what `make` does; the entrypoint and health check run in
test_local_stack.py as processes.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path

from tests.deploy.compose import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())  # join continuation lines
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _final_stage() -> list[tuple[str, str]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions():
        if instruction[0] == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages[-1]


def test_hadolint_finds_nothing():
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_is_slim_python_3_11_pinned_by_version():
    bases = {args.split()[0] for kind, args in _instructions() if kind == "FROM"}
    external = {b for b in bases if ":" in b}
    assert len(external) == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", external.pop())


def test_final_stage_runs_icewatch_as_non_root_in_exec_form_with_a_health_check():
    final = dict(_final_stage())
    assert final["FROM"].endswith("AS runtime")
    assert json.loads(final["ENTRYPOINT"]) == ["icewatch"]  # exec form: SIGTERM reaches icewatch
    assert json.loads(final["CMD"]) == ["run"]
    user = final["USER"].split(":")[0]
    assert user not in {"root", "0"}
    health = final["HEALTHCHECK"]
    assert json.loads(health[health.index("CMD") + 3 :].strip()) == ["python", "-m", "service.healthcheck"]
    assert "--timeout=5s" in health


def test_dependencies_come_from_constraints_and_no_compiler_is_installed():
    runs = [args for kind, args in _instructions() if kind == "RUN"]
    installs = [r for r in runs if "pip install" in r]
    assert installs
    assert all("-c constraints.txt" in r and "--no-cache-dir" in r for r in installs)
    assert not any(re.search(r"\b(apt-get|apk|gcc|build-essential|make)\b", r) for r in runs)


def test_dockerignore_lets_in_every_file_the_build_copies():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip()[:1] not in "#"
    ]

    def included(path: str) -> bool:
        keep = True
        for pattern in patterns:
            negate = pattern.startswith("!")
            pattern = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                keep = negate
        return keep

    copied = [
        source
        for kind, args in _instructions()
        if kind == "COPY" and "--from" not in args
        for source in args.split()[:-1]
    ]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert included(source), f"{source} is excluded by .dockerignore"
    assert not any(included(path) for path in (".venv", ".git", "tests", "bench"))
