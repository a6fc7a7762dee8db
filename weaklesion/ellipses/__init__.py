"""Ellipses as weak labels: fitted to a mask or built from RECIST marks, rasterised, and drawn
as the released code drew its targets; and RECIST marks measured on masks. Pure geometry, used
while preprocessing (rule ``preprocess``: the adapters fit each lesion as they read it), by
the targets after it, and by ``weaklesion recist-from-masks``."""
