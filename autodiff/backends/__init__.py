"""Backends other than numpy: the same graph lowered to another engine (jax: XLA; dask:
chunked arrays). Each module is imported only when ``ad.function(..., backend=...)`` asks
for it, so ``import autodiff`` never imports jax or dask."""
