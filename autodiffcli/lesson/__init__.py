"""`autodiff explain`: :mod:`probes` runs the torch experiments, :mod:`sections` writes the
prose around their numbers, :mod:`report` renders the result, :mod:`picture` draws the tape."""
