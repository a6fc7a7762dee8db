"""Stage 2, the datasets (rules ``make_demo_dataset``, ``locate_source``, ``preprocess``):
one adapter per on-disk format, looked up by the config's ``format`` name, which turns the raw
files into 120×120 lesion patches in ``data.h5``. Each adapter class also carries the facts of
its format that later stages read (:class:`weaklesion.datasets.base.Adapter`)."""

from __future__ import annotations

import importlib

from weaklesion.datasets.base import Adapter
from weaklesion.errors import ConfigError

# format name -> "module:class", imported when first asked for.
_ADAPTERS = {
    "ham10000": "weaklesion.datasets.ham10000:Ham10000Adapter",
    "demo": "weaklesion.datasets.demo:DemoAdapter",
    "lits": "weaklesion.datasets.lits:LitsAdapter",
    "deeplesion": "weaklesion.datasets.deeplesion:DeepLesionAdapter",
    "folder": "weaklesion.datasets.folder:FolderAdapter",
}
FORMATS = tuple(_ADAPTERS)


def adapter_class(fmt: str) -> type[Adapter]:
    """The adapter class of format ``fmt``, whose attributes are the format's facts."""
    if fmt not in _ADAPTERS:
        raise ConfigError(f"unknown dataset format {fmt!r}; known formats: {', '.join(FORMATS)}")
    module_name, class_name = _ADAPTERS[fmt].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_adapter(fmt: str) -> Adapter:
    return adapter_class(fmt)()
