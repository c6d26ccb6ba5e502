"""`.ci/run`: pip-audit over the locked dependencies (uv.lock, exported with hashes).

A known vulnerability in a locked package fails the run, naming the package, the advisory and the fixed
versions. When the vulnerability service cannot be reached (an air-gapped machine, a PyPI mirror without
its JSON API), pip-audit can check nothing: one line says so and the run goes on."""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UV = os.path.join(ROOT, ".uv", "bin", "uv")
PIP_AUDIT = os.path.join(ROOT, ".venv", "bin", "pip-audit")


def main() -> int:
    with tempfile.NamedTemporaryFile("w+", suffix=".txt") as requirements:
        subprocess.run(
            [UV, "export", "--frozen", "--format", "requirements-txt", "--no-emit-project"],
            cwd=ROOT,
            stdout=requirements,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        result = subprocess.run(
            [
                PIP_AUDIT,
                "--disable-pip",
                "-r",
                requirements.name,
                "--format",
                "json",
                "--progress-spinner",
                "off",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"audit: pip-audit could not run its check ({last}); dependencies not audited")
        return 0
    dependencies = report.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            print(f"audit: {dependency['name']} {dependency['version']}: {vuln['id']} (fixed in {fixed})")
    if vulnerable:
        return 1
    if not audited:
        print(
            f"audit: the vulnerability service could not be reached; {len(dependencies)} locked packages"
            " not audited"
        )
        return 0
    print(f"audit: {len(audited)} locked packages, no known vulnerabilities")
    return 0


if __name__ == "__main__":
    sys.exit(main())
