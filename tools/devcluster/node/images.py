"""The images tools/images/build.sh leaves in the cache: a docker archive and its reference each."""

from dataclasses import dataclass
from pathlib import Path

from devcluster.binaries import cache_root


@dataclass(frozen=True)
class Image:
    archive: Path
    reference: str

    @property
    def repository(self) -> str:
        return self.reference.rsplit(":", 1)[0]

    @property
    def tag(self) -> str:
        return self.reference.rsplit(":", 1)[1]


@dataclass(frozen=True)
class Images:
    pause: Image
    peer: Image
    certmint: Image

    @property
    def all(self) -> tuple[Image, ...]:
        return (self.pause, self.peer, self.certmint)


def locate_images() -> Images:
    directory = cache_root() / "images"

    def image(name: str) -> Image:
        archive, reference = directory / f"{name}.tar", directory / f"{name}.ref"
        if not (archive.exists() and reference.exists()):
            raise FileNotFoundError(
                f"image {name} missing in {directory}: build it with tools/images/build.sh (or `make images`)"
            )
        return Image(archive, reference.read_text().strip())

    return Images(pause=image("pause"), peer=image("peer"), certmint=image("certmint"))
