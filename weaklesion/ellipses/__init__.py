"""Ellipses as weak labels: fitted to a mask or built from RECIST marks, rasterised, and drawn
as the released code drew its targets. Pure geometry, used while preprocessing (rule
``preprocess``: the adapters fit each lesion as they read it) and by the targets after it."""
