"""The picture the `fast` variants of the filter detectors read instead of each full frame."""

# Within 320x320 px, 8x8-pixel texture still tells two shots apart (within 160, scdet missed 12
# of the benchmark clip's 25 cuts). `flashes` reads 160 px pictures, which the pass sums from
# these when the sizes nest (1080x1920: 180x320, then 90x160), so each frame is scaled once.
BOUND = 320


def fast_bounds(params) -> dict:
    """The `VideoFilter` bounds for a detector's `fast` param: none unless it is set."""
    return {"max_width": BOUND, "max_height": BOUND} if params.fast else {}
