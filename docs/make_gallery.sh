#!/usr/bin/env bash
# Regenerate the README's gallery: bash docs/make_gallery.sh (after `pip install .`).
# gallery.py draws each figure through the library; the comment above each call in it gives
# the equivalent `autodiff plot` command line.
set -euo pipefail
cd "$(dirname "$0")"
python gallery.py .
