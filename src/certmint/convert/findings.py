"""What a conversion reports besides the manifests: refusals (a field with no certmint equivalent)
and notes (what the user must do or know). Each names the object it is about."""

import unicodedata
from dataclasses import dataclass

from certmint.planning.identity import UNPRINTABLE_CATEGORIES


def printable(text: str) -> str:
    """`text` with line breaks, controls and bidi overrides escaped: a name or value read from a
    manifest must not be able to forge another line of the report, or hide in it."""
    return "".join(
        f"\\u{ord(char):04x}" if unicodedata.category(char) in UNPRINTABLE_CATEGORIES else char
        for char in text
    )


@dataclass(frozen=True, order=True)
class ObjectRef:
    """A cert-manager object as the refusals name it: Kind ns/name, or Kind name when cluster-scoped
    (or when a manifest leaves the namespace to kubectl's -n)."""

    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Refusal:
    source: ObjectRef
    field: str
    """The field's path in the cert-manager object, e.g. spec.keystores.jks."""
    reason: str

    def __str__(self) -> str:
        return printable(f"refused {self.source}: {self.field}: {self.reason}")


@dataclass(frozen=True)
class Note:
    source: ObjectRef
    message: str

    def __str__(self) -> str:
        return printable(f"note {self.source}: {self.message}")


class Findings:
    """The refusals and notes of one object, collected while it is converted."""

    def __init__(self, source: ObjectRef) -> None:
        self.source = source
        self.refusals: list[Refusal] = []
        self.notes: list[Note] = []

    def refuse(self, field: str, reason: str) -> None:
        self.refusals.append(Refusal(self.source, field, reason))

    def note(self, message: str) -> None:
        self.notes.append(Note(self.source, message))
