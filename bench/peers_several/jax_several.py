"""One job of bench/bench_several.py by JAX: float64, jax.jit of jax.vmap of the derivative
(job 1 jax.value_and_grad, job 2 jax.hessian, job 3 jax.jacfwd nested six deep), the distinct
entries taken, the table written as autodiff writes it (jobs.write).

Run: python bench/peers_several/jax_several.py JOB NX,NY[,NZ] OUT [--row-group N]

A whole process: imports, tracing and XLA compilation (no persistent compilation cache is
configured, so every run compiles), computing and writing are all timed by the harness.
"""

from __future__ import annotations

import argparse

import jobs


def functions(jnp):
    """Each job's f as a function of one scalar per variable."""
    return {
        1: lambda x, y: x * jnp.exp(-(x**2) - y**2) + jnp.sin(x * y),
        2: lambda x, y, z: jnp.exp(-(x**2) - y**2 - z**2) * jnp.sin(x * y * z) + x * y * z,
        3: lambda x, y: jnp.exp(x) * jnp.sin(y) + x**2 * y**3 / (1 + x**2),
    }


def derivatives(jax, job: jobs.Job, f):
    """A function of one point's scalars returning [f, each column's partial...]."""
    arguments = tuple(range(len(job.variables)))
    if job.number == 1:
        value_and_grad = jax.value_and_grad(f, argnums=arguments)

        def point(*p):
            value, gradient = value_and_grad(*p)
            return [value, *gradient]

        return point
    if job.number == 2:
        hessian = jax.hessian(f, argnums=arguments)

        def point(*p):
            h = hessian(*p)
            return [f(*p), *(h[i][j] for i, j in job.partials())]

        return point
    # Job 3: jacfwd nested once per order. Each level passes the values below it on as aux
    # (has_aux), so one nested evaluation gives f and every order; level k is a nested tuple
    # indexed [i1][i2]...[ik].
    top = max(job.orders)

    def level0(*p):
        return f(*p), ()

    level = level0
    for _ in range(top):
        level = jax.jacfwd(_keep_output(level), argnums=arguments, has_aux=True)

    def point(*p):
        highest, lower = level(*p)
        by_order = [*lower, highest]  # by_order[k] is the k-th derivative
        out = [by_order[0]]
        for index in job.partials():
            entry = by_order[len(index)]
            for i in index:
                entry = entry[i]
            out.append(entry)
        return out

    return point


def _keep_output(level):
    """``level`` with its own output appended to its aux, so that the jacfwd above it
    returns that output's value beside the derivative."""

    def with_output(*p):
        output, aux = level(*p)
        return output, (*aux, output)

    return with_output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job", type=int)
    parser.add_argument("shape", type=jobs.parse_shape)
    parser.add_argument("out")
    parser.add_argument("--row-group", type=int, default=None)
    args = parser.parse_args()
    job = jobs.JOBS[args.job]

    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    grid = jobs.grid(job, args.shape)
    point = derivatives(jax, job, functions(jnp)[job.number])
    table = jax.jit(jax.vmap(point))
    values = table(*(jnp.asarray(c) for c in grid))
    columns = [*grid, *(np.asarray(v) for v in values)]
    jobs.write(job, columns, args.out, args.row_group)


if __name__ == "__main__":
    main()
