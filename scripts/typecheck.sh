#!/usr/bin/env sh
# mypy cannot follow setuptools' package-dir mapping of an editable install, so give it
# the installed layout as a tree of links: .typecheck/dreamloom/{protocol,server,client}.
set -eu
PY=${PY:-.venv/bin/python}
root=.typecheck/dreamloom
mkdir -p "$root"
for f in __init__.py cli.py __main__.py; do ln -sf "../../dreamloom/$f" "$root/$f"; done
for d in protocol server client; do ln -sfn "../../$d" "$root/$d"; done
export MYPYPATH=.typecheck
"$PY" -m mypy --strict -p dreamloom.protocol -p dreamloom.client
"$PY" -m mypy --strict -p dreamloom.server -p dreamloom.cli
# Layer contracts (pyproject's [tool.importlinter]) on the same installed layout.
bin=$(cd "$(dirname "$PY")" && pwd)
(cd .typecheck && "$bin/lint-imports" ../pyproject.toml)
