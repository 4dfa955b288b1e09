"""One job of bench/bench_several.py by torch.func: float64, torch.func.vmap of the derivative
(job 1 grad_and_value, job 2 hessian, job 3 jacfwd nested six deep), the distinct entries
taken, the table written as autodiff writes it (jobs.write).

Run: python bench/peers_several/torchfunc_several.py JOB NX,NY[,NZ] OUT [--row-group N]
                                                     [--chunk-size N]

--chunk-size is vmap's chunk_size (points per chunk; default: all at once). A whole process:
imports, computing and writing are all timed by the harness.
"""

from __future__ import annotations

import argparse

import jobs


def functions(torch):
    """Each job's f as a function of one scalar tensor per variable."""
    return {
        1: lambda x, y: x * torch.exp(-(x**2) - y**2) + torch.sin(x * y),
        2: lambda x, y, z: torch.exp(-(x**2) - y**2 - z**2) * torch.sin(x * y * z) + x * y * z,
        3: lambda x, y: torch.exp(x) * torch.sin(y) + x**2 * y**3 / (1 + x**2),
    }


def derivatives(func, job: jobs.Job, f):
    """A function of one point's scalars returning (f, each column's partial...)."""
    arguments = tuple(range(len(job.variables)))
    if job.number == 1:
        grad_and_value = func.grad_and_value(f, argnums=arguments)

        def point(*p):
            gradient, value = grad_and_value(*p)
            return (value, *gradient)

        return point
    if job.number == 2:
        hessian = func.hessian(f, argnums=arguments)

        def point(*p):
            h = hessian(*p)
            return (f(*p), *(h[i][j] for i, j in job.partials()))

        return point
    # Job 3: jacfwd nested once per order. Each level passes the values below it on as aux
    # (has_aux), so one nested evaluation gives f and every order; level k is a nested tuple
    # indexed [i1][i2]...[ik].
    top = max(job.orders)

    def level0(*p):
        return f(*p), ()

    level = level0
    for _ in range(top):
        level = func.jacfwd(_keep_output(level), argnums=arguments, has_aux=True)

    def point(*p):
        highest, lower = level(*p)
        by_order = [*lower, highest]  # by_order[k] is the k-th derivative
        out = [by_order[0]]
        for index in job.partials():
            entry = by_order[len(index)]
            for i in index:
                entry = entry[i]
            out.append(entry)
        return tuple(out)

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
    parser.add_argument("--chunk-size", type=int, default=None)
    args = parser.parse_args()
    job = jobs.JOBS[args.job]

    import torch
    import torch.func as func

    torch.set_default_dtype(torch.float64)
    grid = jobs.grid(job, args.shape)
    point = derivatives(func, job, functions(torch)[job.number])
    table = func.vmap(point, chunk_size=args.chunk_size)
    with torch.no_grad():
        values = table(*(torch.from_numpy(c) for c in grid))
    columns = [*grid, *(v.contiguous().numpy() for v in values)]
    jobs.write(job, columns, args.out, args.row_group)


if __name__ == "__main__":
    main()
