"""What a sanitizer's screening left to measure (no numerical import: the command line's
sweep store and reports read these before they load numpy).

A sanitizer either leaves rows the victim can be refitted on (:data:`MEASURED`), or one
of :data:`UNMEASURED`: no row at all, or a single class for a classifier. Such an outcome
is a result, not a failure: what the sanitizer removed is still counted
(:class:`flexpoison.experiments.pipeline.Screened`)."""

from __future__ import annotations

MEASURED = "measured"
REMOVED_EVERY_ROW = "removed every row"
KEPT_ONE_CLASS = "kept one class"
#: The outcomes that leave no victim to refit (no effect, test metric or damage left).
UNMEASURED = (REMOVED_EVERY_ROW, KEPT_ONE_CLASS)
#: Why an unmeasured outcome has no refit, and what the user can do.
UNMEASURED_WHY = {
    REMOVED_EVERY_ROW: (
        "a sanitizer removed every row (clean and poison), so the victim cannot be "
        "refitted on the rows it kept; calibrate it to remove fewer rows"
    ),
    KEPT_ONE_CLASS: (
        "the rows kept by a sanitizer hold a single class; the victim cannot be refitted on them"
    ),
}

__all__ = ["MEASURED", "REMOVED_EVERY_ROW", "KEPT_ONE_CLASS", "UNMEASURED", "UNMEASURED_WHY"]
