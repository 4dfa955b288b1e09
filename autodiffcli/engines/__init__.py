"""The engines: tensors in, tensors out. :mod:`reverse` is autograd's reverse mode, :mod:`taylor`
propagates truncated Taylor series, :mod:`compute` chooses between them and chunks the points,
:mod:`environment` resolves devices and dtypes, and :mod:`graph` walks autograd graphs."""
