"""Built-in detector `image_dimensions`: displayed size, aspect ratio, format and animation."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pique_engine import (
    AspectRatio,
    Checks,
    Detector,
    DetectorError,
    DetectorResult,
    Media,
    aspect_ratio_label,
    check_ranges,
    hookimpl,
    ratio_matches,
)

NAME = "image_dimensions"


class ImageDimensionsParams(BaseModel):
    """Every requirement is optional; only the ones given are checked."""

    model_config = ConfigDict(extra="forbid")

    min_width: int | None = Field(default=None, ge=1)
    max_width: int | None = Field(default=None, ge=1)
    min_height: int | None = Field(default=None, ge=1)
    max_height: int | None = Field(default=None, ge=1)
    aspect_ratio: AspectRatio | None = Field(default=None, description="Required 'W:H', e.g. '4:5'.")
    aspect_ratio_tolerance: float = Field(default=0.01, ge=0, le=1)
    formats: list[str] | None = Field(default=None, min_length=1, description="Allowed formats, e.g. ['jpeg', 'png'].")
    allow_animation: bool = True

    @field_validator("formats")
    @classmethod
    def _formats(cls, v: list[str] | None) -> list[str] | None:
        aliases = {"jpg": "jpeg", "tif": "tiff"}
        return None if v is None else [aliases.get(f.lower(), f.lower()) for f in v]

    @model_validator(mode="after")
    def _bounds(self) -> ImageDimensionsParams:
        check_ranges(self, "width", "height")
        return self


def evaluate(media: Media, params: ImageDimensionsParams) -> DetectorResult:
    img = media.info.image
    if img is None:
        raise DetectorError(f"{media.info.describe()} is not an image")
    ratio = aspect_ratio_label(img.width, img.height)
    metrics = {
        "width": img.width,
        "height": img.height,
        "aspect_ratio": ratio,
        "format": img.format,
        "frames": img.frames,
        "orientation": img.orientation,
        "mode": img.mode,
    }
    c = Checks()
    p = params
    c.within("width", img.width, p.min_width, p.max_width)
    c.within("height", img.height, p.min_height, p.max_height)
    if p.aspect_ratio is not None:
        ok = ratio_matches(img.width, img.height, p.aspect_ratio, p.aspect_ratio_tolerance)
        c.check("aspect ratio", ratio, f"{p.aspect_ratio} ±{p.aspect_ratio_tolerance:.0%}", ok=ok)
    if p.formats is not None:
        c.check("format", img.format, "one of " + ", ".join(p.formats), ok=img.format in p.formats)
    if not p.allow_animation:
        c.check("frames", img.frames, "1 (no animation)", ok=img.frames == 1)
    summary = f"Image meets requirements: {img.width}x{img.height} ({ratio}), {img.format}"
    if img.frames > 1:
        summary += f", {img.frames} frames"
    return c.result(name=NAME, metrics=metrics, summary=summary)


@hookimpl
def register_detectors(register):
    register(
        Detector(
            name=NAME,
            content_types={"image"},
            evaluate=evaluate,
            params=ImageDimensionsParams,
            description="Image size as displayed (EXIF orientation applied), aspect ratio, format and animation, from headers.",
        )
    )
