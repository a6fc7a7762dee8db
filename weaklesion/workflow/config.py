"""Dataset entries of the config, completed with each format's facts.

The JSON schema (schemas/config.schema.yaml) checks names and types and sets every default a
schema can; the Snakefile validates the config against it before anything here runs. This
module adds what a schema cannot: the defaults of each format (k, where the raw files come
from, from its adapter class), the protocols each dataset runs under, and which settings each
stage depends on, so that changing ``k`` never reruns preprocessing and adding a protocol
never reruns what another protocol made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from weaklesion.datasets import FORMATS, adapter_class
from weaklesion.errors import ConfigError
from weaklesion.layout import variant_name
from weaklesion.protocols import DEFAULT_PROTOCOLS, PAPER, PROTOCOLS

# Settings read after preprocessing. Everything else in an entry (format, path, protocol,
# on_bad_image, the format's own options) is a preprocessing setting.
LATER_STAGE_KEYS = {"k", "target", "split", "cluster_seed", "demo", "ablations", "released"}
# Settings of the raw files themselves: obtaining, verifying and listing them reads only these,
# so that they are done once for every protocol.
PROTOCOL_KEYS = {"protocol", "protocols"}


def dataset_protocols(name: str, entry: Mapping[str, Any],
                      default: Sequence[str] = DEFAULT_PROTOCOLS) -> list[str]:
    """The protocols a dataset runs under: its ``protocols`` list, its single ``protocol``,
    or the config's top-level ``protocols``."""
    if "protocol" in entry and "protocols" in entry:
        raise ConfigError(f"datasets.{name}: give either protocol or protocols, not both")
    if "protocols" in entry:
        protocols, key = list(entry["protocols"]), f"datasets.{name}.protocols"
    elif "protocol" in entry:
        protocols, key = [entry["protocol"]], f"datasets.{name}.protocol"
    else:
        protocols, key = list(default), "protocols"
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols or len(set(protocols)) != len(protocols):
        raise ConfigError(f"{key} = {protocols!r}: a list of distinct protocols out of "
                          f"{', '.join(PROTOCOLS)}")
    return protocols


def resolve_dataset(name: str, entry: Mapping[str, Any],
                    protocols: Sequence[str] = DEFAULT_PROTOCOLS) -> dict[str, Any]:
    """A validated entry with its format's defaults filled in, its protocols listed and the
    source of its raw files decided (``generated``, ``path`` or ``archives``)."""
    fmt = entry.get("format")
    if fmt not in FORMATS:
        raise ConfigError(f"datasets.{name}.format = {fmt!r}; known formats: {', '.join(FORMATS)}")
    adapter = adapter_class(fmt)
    settings = {"k": adapter.default_k,
                **{key: value for key, value in entry.items() if key not in PROTOCOL_KEYS}}
    settings["protocols"] = dataset_protocols(name, entry, protocols)
    if settings.get("released") and PAPER not in settings["protocols"]:
        raise ConfigError(f"datasets.{name}.released: the released models are evaluated with "
                          f"protocol {PAPER}'s input pipeline; add {PAPER} to the dataset's "
                          f"protocols (now {settings['protocols']})")
    if adapter.generated:
        settings["source"] = "generated"
    elif settings.get("path"):
        settings["source"] = "path"
    elif adapter.manifest or settings.get("manifest"):
        settings["source"] = "archives"
        settings.setdefault("manifest", adapter.manifest)
    else:
        raise ConfigError(
            f"datasets.{name}.path is required for format {fmt!r}: point it at the folder "
            "holding the files"
        )
    return settings


def resolve_datasets(entries: Mapping[str, Mapping[str, Any]],
                     protocols: Sequence[str] = DEFAULT_PROTOCOLS) -> dict[str, dict[str, Any]]:
    if not entries:
        raise ConfigError("datasets is empty: configure at least one dataset")
    return {name: resolve_dataset(name, entry, protocols) for name, entry in entries.items()}


def expected_lesions(settings: Mapping[str, Any]) -> int:
    """How many lesions a dataset will have, before preprocessing has counted them."""
    return adapter_class(settings["format"]).expected_lesions(settings)


def source_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a dataset's settings that obtaining and listing its raw files depend on:
    the same for every protocol."""
    return {k: v for k, v in settings.items() if k not in LATER_STAGE_KEYS | PROTOCOL_KEYS}


def preprocess_settings(settings: Mapping[str, Any], protocol: str) -> dict[str, Any]:
    """The part of a dataset's settings that preprocessing under ``protocol`` depends on."""
    if protocol not in settings["protocols"]:
        raise ConfigError(f"protocol {protocol!r} is not configured for this dataset "
                          f"(protocols: {settings['protocols']})")
    return {**source_settings(settings), "protocol": protocol}


# What each ablated setting changes: the models trained again under it.
ABLATION_MODELS = {"k": ("A1+L",), "target": None}  # None: every model


def ablation_variants(settings: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """(setting, value, variant name) of a dataset's ablations, ``k-15`` or
    ``target-grabcut``, leaving out values equal to the default run's."""
    variants = []
    for setting, values in (settings.get("ablations") or {}).items():
        if setting not in ABLATION_MODELS:
            raise ConfigError(f"ablations.{setting}: only {', '.join(ABLATION_MODELS)} can be "
                              "ablated")
        for value in values:
            if value != settings[setting]:
                variants.append((setting, value, variant_name(setting, value)))
    return variants


def variant_settings(settings: Mapping[str, Any], variant: str | None) -> dict[str, Any]:
    """The dataset's settings as the runs of ``variant`` (None: the default run) see them."""
    settings = dict(settings)
    if variant is None:
        return settings
    for setting, value, name in ablation_variants(settings):
        if name == variant:
            settings[setting] = value
            return settings
    raise ConfigError(f"variant {variant!r} is not among the configured ablations")


def ablated_models(setting: str, models: Sequence[str]) -> list[str]:
    """The configured models that an ablated ``setting`` trains again."""
    affected = ABLATION_MODELS[setting]
    return [m for m in models if affected is None or m in affected]
