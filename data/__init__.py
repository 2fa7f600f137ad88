"""The corpus layer: corpus resolution and validation, preprocessing, prepared data, shared I/O.

Everything both sides of the suite share lives here, written once:
``data.io`` (validated reading, atomic writes, progress bars, one-line user errors),
``data.corpus`` (the corpus contract), ``data.preprocess`` (Moses pipeline and its inverse),
``data.prepare`` (the cached, prepared build directory) and ``data.profiles`` (quick / full).
"""
