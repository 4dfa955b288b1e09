#!/usr/bin/env bash
# Regenerate the README's gallery with the CLI itself: bash docs/make_gallery.sh (after
# `pip install .`). Each line is the command a user would type.
set -euo pipefail
cd "$(dirname "$0")"
plot() { autodiff plot "$@" --dpi 100 --quiet; }
plot 'sin(x)' -o sin.png
plot 'x**3 - 1/x' --start 0.2 --stop 2 --tangent-at 0.5 --tangent-at 1.5 -o tangent.png
plot 'tan(x)' -o tan.png
plot '1/x' --num 1000 -o reciprocal.png
plot 'log(x)' --start -2 --stop 5 -o log_gaps.png
plot 'sin(x)' --order 4 --panels -o sin_order4_panels.png
plot 'sin(x)' --order 7 --start -7 --stop 7 --taylor-at 0 --ylim -2 2 -o sin_taylor.png
plot 'sin(x)' --tangent-at -2 --tangent-at 0 --tangent-at 2 --width 4 --height 3 -o sin_small.png
plot 'abs(x)' -k 2 -o abs_jump.png
plot 'exp(x)' --start -50 --stop 50 --logy -o exp_logy.png
autodiff explain 'log(x^2)*sin(x) + 1/x' --trace 1 --graph explain_graph.png > /dev/null
# Two variables: each map with the gradient arrows and the critical points found.
grid='--var x=-2:2:0.02 --var y=-2:2:0.02'
plot 'x*exp(-x^2 - y^2)' $grid --taylor-at x=-1,y=0 -o bump_quadratic.png
plot 'x*exp(-x^2 - y^2)' --var x=-2:2:41j --var y=-2:2:41j --kind surface --wireframe \
  --taylor-at x=-1,y=0 -o bump_surface.png
plot 'x^2 - y^2' $grid -o saddle.png
plot '(x^2 + y^2 - 1)^2' --var x=-1.5:1.5:0.015 --var y=-1.5:1.5:0.015 -o ring.png
plot 'log(x^2 + y^2)' --var x=-2:2:0.25 --var y=-2:2:0.25 -o log_masked.png
plot '1/(x - y)' $grid -o pole_line.png
plot '[-y, x]' $grid --background curl -o rotation.png
plot 'x*exp(-x^2 - y^2 - z^2) + y*z' $grid --at z=0.5 -o slice_z.png
plot 'x*exp(-x^2 - y^2)' $grid -k 1 -o bump_partials.png
plot 'x*exp(-x^2 - y^2)' $grid --hessian --field none -o bump_hessian.png
