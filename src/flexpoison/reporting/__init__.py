"""Reporting: figures, HTML reports and result files — the only importer of matplotlib.

``files``     all-or-nothing output directories, CSV and JSON writers
``plotting``  the figures, from plain arrays and a goal
``paper``     the reproduction report of ``flexpoison reproduce``
``frontier``  the frontier's files and its HTML section
``sweeps``    the standard figures of a sweep's results store
"""
