"""The charts of the report pages, one pure function per chart: Polars frames in, plotly figures
out (as plain data, ``style.Figure``), one module per kind of chart (``windows``, ``budget``,
``burn``, ``timeline``, ``overview``) on the shared ``style``.

Timestamps arrive in UTC and are drawn in the contract's zone (plotly.js knows no zones, so the
axis gets zone-local wall-clock times and says which zone). Series are downsampled to hourly points
so that a page stays small.
"""
