#!/usr/bin/env bash
# ansible-test, offline. It finds the collection from its path, so it runs in a copy of this checkout
# laid out as .../ansible_collections/tandem/ha; pip's bootstrap download is replaced by a stand-in.
# The copy holds the Ansible content only: the runtime (runtime/), the lab, benchmarks and scripts are
# separate Python projects linted and tested by ruff and pytest, not by ansible-test's plugin rules.
#   bash scripts/ansible-test.sh sanity --local --python 3.11
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$repo/.venv/bin:$PATH"

pip_version=$(python -c '
from types import SimpleNamespace
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(SimpleNamespace(version="3.11"))["pip"])')
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$cache")"
cp "$repo/scripts/get_pip_offline.py" "$cache"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
collection="$work/ansible_collections/tandem/ha"
mkdir -p "$collection"
(cd "$repo" && git ls-files --cached --others --exclude-standard -- . \
  ':!runtime' ':!lab' ':!bench' ':!scripts' ':!docs' | tar --ignore-failed-read -cT - 2>/dev/null) \
  | tar -x -C "$collection"
cd "$collection"
ansible-test "$@"
