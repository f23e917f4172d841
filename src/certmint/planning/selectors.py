"""Kubernetes label selectors, as issuer policies and TrustBundle targets match namespaces."""

from collections.abc import Mapping

from certmint.api import LabelSelector
from certmint.api.trustbundle import LabelSelectorOperator


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics; an empty selector matches everything."""
    if any(labels.get(key) != value for key, value in selector.match_labels.items()):
        return False
    for requirement in selector.match_expressions:
        present = requirement.key in labels
        value = labels.get(requirement.key)
        match requirement.operator:
            case LabelSelectorOperator.IN:
                ok = present and value in requirement.values
            case LabelSelectorOperator.NOT_IN:
                ok = not present or value not in requirement.values
            case LabelSelectorOperator.EXISTS:
                ok = present
            case LabelSelectorOperator.DOES_NOT_EXIST:
                ok = not present
        if not ok:
            return False
    return True
