"""Dataset adapters, one per on-disk format, looked up by the config's ``format`` name."""

from __future__ import annotations

import importlib

from weaklesion.datasets.base import Adapter
from weaklesion.errors import ConfigError

# format name -> "module:class"; imported lazily so one format's readers never slow another.
_ADAPTERS = {
    "ham10000": "weaklesion.datasets.ham10000:Ham10000Adapter",
    "demo": "weaklesion.datasets.ham10000:Ham10000Adapter",  # the demo is HAM10000-shaped
    "lits": "weaklesion.datasets.lits:LitsAdapter",
    "deeplesion": "weaklesion.datasets.deeplesion:DeepLesionAdapter",
    "folder": "weaklesion.datasets.folder:FolderAdapter",
}
FORMATS = tuple(_ADAPTERS)


def get_adapter(fmt: str) -> Adapter:
    if fmt not in _ADAPTERS:
        raise ConfigError(f"unknown dataset format {fmt!r}; known formats: {', '.join(FORMATS)}")
    module_name, class_name = _ADAPTERS[fmt].split(":")
    return getattr(importlib.import_module(module_name), class_name)()
