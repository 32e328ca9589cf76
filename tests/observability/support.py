"""Reading a /metrics answer: one sample's value by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (0 when none)."""
    return sum(
        v
        for sample, found, v in samples(text)
        if sample == name and all(found.get(k) == want for k, want in labels.items())
    )


def label_values(text: str, name: str, label: str) -> set[str]:
    return {found[label] for sample, found, _ in samples(text) if sample == name and label in found}


def names(text: str) -> set[str]:
    """Every sample name, and each family name (a histogram's base name too)."""
    found = {sample for sample, _, _ in samples(text)}
    found |= {family.name for family in text_string_to_metric_families(text)}
    return found
