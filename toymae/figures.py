"""Plot builders: pure functions from arrays / result rows to plotly figures (no Streamlit here)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
from plotly.subplots import make_subplots

SHAPE_COLOURS = {"circle": "#1f77b4", "square": "#d62728"}
_GREY = [[0.0, "black"], [1.0, "white"]]
_MARGIN = {"l": 4, "r": 4, "t": 28, "b": 4}


def _square_axes(fig: go.Figure, rows: int, cols: int) -> None:
    for i in range(1, rows * cols + 1):
        suffix = "" if i == 1 else str(i)
        fig.layout[f"xaxis{suffix}"].update(visible=False, constrain="domain")
        fig.layout[f"yaxis{suffix}"].update(
            visible=False, autorange="reversed", scaleanchor=f"x{suffix}", constrain="domain"
        )


def image_panels(
    images: Sequence[np.ndarray],
    titles: Sequence[str],
    zmax: Sequence[float] | None = None,
    colorscales: Sequence | None = None,
    height: int = 260,
) -> go.Figure:
    """A row of (H, W) images as heatmaps, titles above; values shown on hover.
    ``colorscales[j]`` None (or no list) = black to white: never Streamlit's themed default."""
    fig = make_subplots(rows=1, cols=len(images), subplot_titles=list(titles), horizontal_spacing=0.02)
    for j, img in enumerate(images):
        fig.add_trace(
            go.Heatmap(
                z=np.asarray(img, dtype=float),
                zmin=0.0,
                zmax=(zmax[j] if zmax is not None else 1.0),
                colorscale=(colorscales[j] if colorscales is not None else None) or _GREY,
                showscale=False,
                hovertemplate="x %{x}, y %{y}: %{z:.2f}<extra></extra>",
            ),
            row=1,
            col=j + 1,
        )
    _square_axes(fig, 1, len(images))
    fig.update_layout(height=height, margin=_MARGIN)
    return fig


GRID_TOOLS = ("click", "box")


def mask_grid(
    mask: np.ndarray, image: np.ndarray | None = None, height: int = 360, tool: str = "click"
) -> go.Figure:
    """The clickable patch grid: one square marker per patch (heatmaps send no selection events).

    Hidden patches are dark, visible ones show the image's mean brightness in the patch.
    ``customdata`` carries the flat patch index that ``toymae.masks.selected_indices`` reads back.
    ``tool``: "click" selects the clicked patch; "box" selects every patch under a dragged box.
    One figure cannot do both: Streamlit turns click selection off while the drag mode is "select".
    """
    if tool not in GRID_TOOLS:
        raise ValueError(f"tool must be one of {GRID_TOOLS}, got {tool!r}")
    g = mask.shape[0]
    ys, xs = np.divmod(np.arange(g * g), g)
    if image is not None:
        p = image.shape[0] // g
        patch_mean = image.reshape(g, p, g, p).mean(axis=(1, 3)).reshape(-1)
    else:
        patch_mean = np.full(g * g, 0.5)
    hidden = mask.reshape(-1)
    colours = [
        "rgb(70,70,70)" if h else f"rgb({int(60 + 195 * v)},{int(120 + 135 * v)},{int(60 + 60 * v)})"
        for h, v in zip(hidden, patch_mean, strict=True)
    ]
    fig = go.Figure(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            customdata=np.arange(g * g),
            marker={
                "symbol": "square",
                "size": max(6, int(300 / g)),
                "color": colours,
                "line": {"width": 1, "color": "white"},
            },
            text=["hidden" if h else "visible" for h in hidden],
            hovertemplate="patch %{customdata} (row %{y}, col %{x}): %{text}<extra></extra>",
        )
    )
    # Fixed ranges: in click mode the drag mode is "pan", and the grid must not move under the mouse.
    fig.update_xaxes(visible=False, range=[-0.6, g - 0.4], constrain="domain", fixedrange=True)
    fig.update_yaxes(
        visible=False, range=[g - 0.4, -0.6], scaleanchor="x", constrain="domain", fixedrange=True
    )
    fig.update_layout(
        height=height,
        margin={"l": 4, "r": 4, "t": 4, "b": 4},
        dragmode="select" if tool == "box" else "pan",
        clickmode="event+select",
    )
    return fig


# Magma with its first stop moved from #000004 to #000000. Streamlit's plotly theme reserves the
# colours #000001-#000040 as placeholders and swaps them for theme colours in the browser, so plain
# "Magma" drew zero as pink (streamlit/elements/lib/streamlit_plotly_theme.py: CATEGORY_3).
MAGMA = [[i / (len(pc.sequential.Magma) - 1), c] for i, c in enumerate(pc.sequential.Magma)]
MAGMA[0][1] = "#000000"


def patch_heatmap(values: np.ndarray, title: str, zmax: float | None = None, height: int = 260) -> go.Figure:
    """A (grid, grid) map of per-patch numbers (error, hallucination score); NaN = not applicable."""
    fig = go.Figure(
        go.Heatmap(
            z=values,
            zmin=0.0,
            zmax=zmax,
            colorscale=MAGMA,
            colorbar={"thickness": 10},
            hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_layout(
        title={"text": title, "font": {"size": 13}}, height=height, margin=_MARGIN, plot_bgcolor="white"
    )
    return fig


def pca_scatter(
    points: np.ndarray,
    shapes: Sequence[str],
    hover: Sequence[str] | None = None,
    title: str = "",
    height: int = 420,
) -> go.Figure:
    """2-D PCA of features coloured by true shape; ``customdata`` = the point's index."""
    fig = go.Figure()
    shapes = np.asarray(shapes)
    for name, colour in SHAPE_COLOURS.items():
        idx = np.flatnonzero(shapes == name)
        fig.add_trace(
            go.Scatter(
                x=points[idx, 0],
                y=points[idx, 1],
                mode="markers",
                name=name,
                customdata=idx,
                marker={"color": colour, "size": 6, "opacity": 0.75},
                text=[hover[i] for i in idx] if hover is not None else None,
                hovertemplate="%{text}<extra>" + name + "</extra>" if hover is not None else None,
            )
        )
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        xaxis_title="PC 1",
        yaxis_title="PC 2",
        height=height,
        margin={"l": 40, "r": 8, "t": 36, "b": 36},
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
        # Monospace, so a hover text made of block characters (images.text_thumbnail) is a picture.
        hoverlabel={"font": {"family": "DejaVu Sans Mono, Menlo, Consolas, monospace", "size": 11}},
    )
    return fig


def sweep_chart(
    rows: Sequence[dict],
    x_key: str,
    metrics: Sequence[tuple[str, str]],
    blog: dict | None = None,
    title: str = "",
    y_title: str = "accuracy",
    height: int = 360,
) -> go.Figure:
    """Mean ± std over seeds for each metric against ``x_key``, with the blog's numbers beside them."""
    rows = sorted(rows, key=lambda r: r[x_key])
    xs = [r[x_key] for r in rows]
    fig = go.Figure()
    for key, label in metrics:
        ys = [r.get(key) for r in rows]
        errs = [r.get(f"{key}_std") or 0.0 for r in rows]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=label,
                mode="lines+markers",
                error_y={"type": "data", "array": errs, "visible": True},
            )
        )
    if blog:
        bx = sorted(blog)
        fig.add_trace(
            go.Scatter(
                x=bx,
                y=[blog[x] for x in bx],
                name="blog (one run)",
                mode="lines+markers",
                line={"dash": "dash", "color": "grey"},
            )
        )
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        xaxis_title=x_key.replace("_", " "),
        yaxis_title=y_title,
        height=height,
        margin={"l": 40, "r": 8, "t": 36, "b": 40},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def blog_sweep_charts(
    rows: Sequence[dict],
    metrics: Sequence[tuple[str, str]],
    y_title: str = "accuracy",
    with_blog: bool = True,
) -> tuple[go.Figure, go.Figure]:
    """The blog's two sweeps from reproduction rows: mask ratio at decoder depth 2, and decoder depth
    at ratio 0.6, each with the blog's probe accuracies beside ours when ``with_blog``."""
    from .reproduce import BLOG_DECODER_DEPTH, BLOG_MASK_RATIO

    sweeps = (  # (fixed key, fixed value, swept key, blog numbers, title)
        ("decoder_depth", 2, "mask_ratio", BLOG_MASK_RATIO, "mask ratio sweep (decoder depth 2)"),
        ("mask_ratio", 0.6, "decoder_depth", BLOG_DECODER_DEPTH, "decoder depth sweep (mask ratio 0.6)"),
    )
    ratio, depth = (
        sweep_chart(
            [r for r in rows if r[fixed] == value], x, metrics, blog if with_blog else None, title, y_title
        )
        for fixed, value, x, blog, title in sweeps
    )
    return ratio, depth


def rate_by_bin_chart(bins: Sequence[dict], title: str = "", height: int = 300) -> go.Figure:
    """Hallucination rate per bin (e.g. visible fraction of the object) with Wilson intervals."""
    labels = [f"{b['lo']:.1f}–{b['hi']:.1f}" for b in bins]
    rates = [b["rate"] for b in bins]
    lo = [(b["rate"] - b["ci95"][0]) if b["rate"] is not None else 0 for b in bins]
    hi = [(b["ci95"][1] - b["rate"]) if b["rate"] is not None else 0 for b in bins]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=rates,
            error_y={"type": "data", "symmetric": False, "array": hi, "arrayminus": lo},
            text=[f"n={b['n_decidable']}" for b in bins],
            textposition="outside",
        )
    )
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        yaxis={"range": [0, 1.1], "title": "rate"},
        height=height,
        margin={"l": 40, "r": 8, "t": 36, "b": 40},
    )
    return fig


def loss_curve(
    steps: Sequence[int], losses: Sequence[float], evals: Sequence[dict] = (), height: int = 300
) -> go.Figure:
    """Training loss per step, and held-out loss / probe accuracy at evaluations (second axis)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Scatter(x=list(steps), y=list(losses), name="train loss", mode="lines"), secondary_y=False
    )
    at = [e["step"] for e in evals]
    for key, name, on_right in (("held_out_loss", "held-out loss", False), ("probe_acc", "probe acc", True)):
        if at:
            y = [e[key] for e in evals]
            fig.add_trace(go.Scatter(x=at, y=y, name=name, mode="markers+lines"), secondary_y=on_right)
    fig.update_yaxes(title_text="loss", type="log", secondary_y=False)
    fig.update_yaxes(title_text="probe accuracy", range=[0.4, 1.02], secondary_y=True)
    fig.update_layout(
        height=height, margin={"l": 40, "r": 40, "t": 20, "b": 36}, legend={"orientation": "h", "y": -0.3}
    )
    return fig
