#!/usr/bin/env bash
# Regenerate the README's gallery: bash docs/make_gallery.sh (after `pip install .`).
set -euo pipefail
cd "$(dirname "$0")"
autodiff plot 'sin(x)' -o sin.png --dpi 100
autodiff plot 'x*sin(x)' --order 2 -o x_sin_order2.png --dpi 100
autodiff plot 'log(x)' --start -2 --stop 5 -o log_gaps.png --dpi 100 --quiet
autodiff plot 'x**3 - 1/x' --start 0.2 --stop 2 --tangent-at 1 -o tangent.png --dpi 100
