"""The prompting widget: ipywidgets + ipyevents around a :class:`~dl_utils.ipy_utils.PromptSession`.

The frame is an ``ipywidgets.Image`` (PNG drawn in Python with the masks, points and box);
``ipyevents`` reports the mouse on it in image pixels, so the widget needs no JavaScript of its
own. Controls: a frame slider (several frames), the label picker, the object picker (a new
object, or another keyframe of an accepted one), Accept, Undo, Clear, Remove last and, with a
propagator, Propagate. The accepted rows are listed under the image.

Example:
    >>> from dl_utils.ipy_utils import PromptWidget, FloodFillPredictor
    >>> w = PromptWidget(FloodFillPredictor(), "clip.mp4", labels=["car", "person"])  # doctest: +SKIP
    >>> w                       # the last expression of a cell shows the widget      # doctest: +SKIP
    >>> task = w.to_task()      # after clicking and accepting                         # doctest: +SKIP
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from dl_utils.ipy_utils.prompts import MaskPredictor, PromptSession, Propagator, SessionOptions
from dl_utils.utils import get_logger, require

log = get_logger(__name__)

WATCHED_EVENTS = ["mousedown", "mouseup", "contextmenu", "dragstart"]


class PromptWidget:
    """Click/drag prompts on frames, see the SAM/SAM2 mask, accept objects as annotation rows.

    Args:
        predictor: a :class:`~dl_utils.ipy_utils.MaskPredictor` (``SamPredictor``,
            ``SAM2ImagePredictor``, samal's predictors, :class:`FloodFillPredictor`).
        frames: an image, a list of images, a video or an image folder (path or ``FrameSource``).
        labels: label names, ``LabelSpec``s, a ``Task`` or a class table (path or ``ClassTable``).
        propagator: optional :class:`~dl_utils.ipy_utils.Propagator` (e.g. SAM2 video
            propagation): adds a Propagate button; the tracks are then drawn on every frame.
        display_width: width of the image on screen in CSS pixels (clicks map to image pixels).
        annotations: rows to review (a detector's boxes...): drawn on their frames and kept
            in the result; click on one, then Delete, to drop it.
        options: :class:`SessionOptions`; keyword overrides (``shape="polygon"``...) too.

    Mouse: click = positive point, right or Alt click = negative point, drag = box.
    """

    def __init__(
        self,
        predictor: MaskPredictor,
        frames: Any,
        labels: Any = None,
        *,
        propagator: Propagator | None = None,
        display_width: int = 720,
        annotations: pd.DataFrame | None = None,
        options: SessionOptions | None = None,
        **option_overrides: Any,
    ) -> None:
        widgets = require("ipywidgets", "notebook", "the prompting widget")
        ipyevents = require("ipyevents", "notebook", "the prompting widget")
        self.session = PromptSession(
            predictor, frames, labels, options, annotations=annotations, **option_overrides
        )
        self.propagator = propagator
        s = self.session
        self.image = widgets.Image(format="png", layout=widgets.Layout(width=f"{int(display_width)}px"))
        self.image.add_class("dl-utils-prompt-image")
        self.events = ipyevents.Event(
            source=self.image, watched_events=WATCHED_EVENTS, prevent_default_action=True
        )
        self.events.on_dom_event(self.handle_event)
        n = len(s.frames)
        self.slider = widgets.IntSlider(
            value=0, min=0, max=max(n - 1, 0), description="frame", continuous_update=False
        )
        self.slider.layout.display = None if n > 1 else "none"
        self.slider.observe(lambda ch: self._on_frame(int(ch["new"])), names="value")
        self.label = widgets.Dropdown(options=s.labels, value=s.label, description="label")
        self.label.observe(lambda ch: s.set_label(ch["new"]), names="value")
        self.object = widgets.Dropdown(options=[("new object", 0)], value=0, description="object")
        self.object.observe(self._on_object, names="value")
        self.buttons: dict[str, Any] = {}
        for name, tip in (
            ("accept", "keep the mask as an object (rows of the task)"),
            ("undo", "take back the last point or box"),
            ("clear", "drop the prompts of the current object"),
            ("remove last", "forget the last accepted object"),
            ("delete", "delete the object under the last click"),
            ("propagate", "run the video propagation over every frame"),
        ):
            b = widgets.Button(description=name.capitalize(), tooltip=tip)
            b.add_class(f"dl-utils-{name.replace(' ', '-')}")
            b.on_click(lambda _b, name=name: self._on_button(name))
            self.buttons[name] = b
        if propagator is None:
            self.buttons["propagate"].layout.display = "none"
        self.status = widgets.HTML()
        self.status.add_class("dl-utils-status")
        self.table = widgets.HTML()
        self.table.add_class("dl-utils-table")
        self.box = widgets.VBox(
            [
                widgets.HBox([self.label, self.object]),
                self.slider,
                self.image,
                widgets.HBox(list(self.buttons.values())),
                self.status,
                self.table,
            ]
        )
        self.refresh()

    # -- display ---------------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.box._repr_mimebundle_(**kwargs)

    def refresh(self, message: str = "") -> None:
        """Redraw the image, the status line and the table of accepted objects."""
        from dl_utils.cv_utils import encode_image

        s = self.session
        self.image.value = encode_image(s.render(), ".png", rgb=True, png_compression=1)
        p = s.prompts
        n_pos = sum(p.labels)
        parts = [
            f"frame {s.frame}",
            f"{n_pos} positive / {len(p.labels) - n_pos} negative points",
            "box" if p.box is not None else "no box",
            f"mask {int(s.mask.sum())} px (score {s.score:.3f})" if s.mask is not None else "no mask",
            f"{len(s.objects)} accepted",
        ]
        if len(s.existing):
            parts.append(f"{len(s.existing)} reviewed rows")
        if s.tracks is not None:
            parts.append(f"{int(s.tracks['track_id'].nunique())} tracks propagated")
        text = " · ".join(parts)
        self.status.value = f"<span>{html.escape(text)}</span>" + (
            f' <b style="color:#b00">{html.escape(message)}</b>' if message else ""
        )
        self.table.value = _rows_html(s)
        options = [("new object", 0)] + [
            (f"#{o.object_id} {o.label}", o.object_id) for o in {o.object_id: o for o in s.objects}.values()
        ]
        if list(self.object.options) != options:
            keep = self.object.value if self.object.value in [v for _, v in options] else 0
            self.object.options = options
            self.object.value = keep

    # -- actions (the buttons call these; tests and scripts may too) ------------------------------

    def handle_event(self, event: dict[str, Any]) -> None:
        """One ``ipyevents`` mouse event (what a click or drag on the image sends)."""
        try:
            if self.session.handle_event(event):
                self.refresh()
        except ValueError as e:
            self.refresh(str(e))

    def click(self, x: float, y: float, *, negative: bool = False) -> None:
        """Click at image pixel (x, y) (``negative``: a right click)."""
        button = 2 if negative else 0
        self.handle_event({"type": "mousedown", "button": button, "dataX": x, "dataY": y})
        self.handle_event({"type": "mouseup", "button": button, "dataX": x, "dataY": y})

    def drag(self, x1: float, y1: float, x2: float, y2: float) -> None:
        """Drag from (x1, y1) to (x2, y2): a box prompt."""
        self.handle_event({"type": "mousedown", "button": 0, "dataX": x1, "dataY": y1})
        self.handle_event({"type": "mouseup", "button": 0, "dataX": x2, "dataY": y2})

    def accept(self) -> None:
        self._on_button("accept")

    def undo(self) -> None:
        self._on_button("undo")

    def clear(self) -> None:
        self._on_button("clear")

    def propagate(self) -> None:
        self._on_button("propagate")

    def delete(self) -> None:
        """Delete the object under the last click (an accepted one or a reviewed row)."""
        self._on_button("delete")

    def _on_button(self, name: str) -> None:
        s = self.session
        message = ""
        try:
            if name == "accept":
                s.accept()
                self.object.value = 0
                s.object_id = None
            elif name == "undo":
                if not s.undo():
                    message = "nothing to undo"
            elif name == "clear":
                s.clear()
            elif name == "delete":
                if not s.prompts.points:
                    raise ValueError("click on the object to delete first, then Delete")
                x, y = s.prompts.points[-1]
                message = f"deleted {s.delete_at(x, y)}"
            elif name == "remove last":
                if s.remove_last() is None:
                    message = "no accepted object to remove"
            elif name == "propagate":
                if self.propagator is None:
                    raise ValueError("this widget has no propagator")
                self.status.value = "propagating…"
                s.propagate(self.propagator)
        except ValueError as e:
            message = str(e)
        self.refresh(message)

    def _on_frame(self, frame: int) -> None:
        try:
            self.session.set_frame(frame)
            self.refresh()
        except (IndexError, ValueError) as e:
            self.refresh(str(e))

    def _on_object(self, change: dict[str, Any]) -> None:
        oid = int(change["new"])
        s = self.session
        s.object_id = oid or None
        if oid:
            label = next(o.label for o in s.objects if o.object_id == oid)
            self.label.value = label

    # -- results -------------------------------------------------------------------------------

    @property
    def objects(self) -> list[Any]:
        return self.session.objects

    def rows(self) -> pd.DataFrame:
        """The accepted objects as annotation-table rows."""
        return self.session.rows()

    def to_task(self, name: str = "prompts") -> Any:
        """The result as a :class:`~dl_utils.cvat.Task` (propagated tracks, else accepted shapes)."""
        return self.session.to_task(name)


def _rows_html(s: PromptSession) -> str:
    if not s.objects:
        return '<p style="color:#777">no accepted objects yet: click on the image, then Accept</p>'
    head = "<tr><th>#</th><th>frame</th><th>label</th><th>object</th><th>pixels</th><th>score</th></tr>"
    body = "".join(
        f'<tr class="dl-utils-row"><td>{i}</td><td>{o.frame}</td><td>{html.escape(o.label)}</td>'
        f"<td>{o.object_id}</td><td>{int(np.count_nonzero(o.mask))}</td><td>{o.score:.3f}</td></tr>"
        for i, o in enumerate(s.objects)
    )
    return f'<table class="dl-utils-rows">{head}{body}</table>'


__all__ = ["WATCHED_EVENTS", "PromptWidget"]
