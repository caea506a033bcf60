"""Plot builders: pure functions from arrays / result rows to plotly figures (no Streamlit here)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from toymae.reproduce.blog import BLOG_DECODER_DEPTH, BLOG_MASK_RATIO

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


EDIT_TOOLS = ("click", "box", "lasso")


def image_panel(
    image: np.ndarray,
    title: str,
    edit_grid: int | None = None,
    tool: str = "click",
    height: int = 250,
) -> go.Figure:
    """One (H, W) image, black to white, that can double as an editor.

    With ``edit_grid`` = g, a g x g lattice of invisible points sits on the cell centres (a patch
    grid for a mask, one point a pixel for a drawing): heatmaps send no selection events, points
    do. ``customdata`` carries the flat cell index that ``toymae.masks.selected_indices`` reads back.
    ``tool`` sets the drag mode: "click" (a click selects one cell, dragging does nothing), "box" or
    "lasso" (every cell whose centre the drawn region covers). One figure cannot do both: Streamlit
    turns click selection off while the drag mode is a select mode.
    """
    if tool not in EDIT_TOOLS:
        raise ValueError(f"tool must be one of {EDIT_TOOLS}, got {tool!r}")
    img = np.asarray(image, dtype=float)
    n = img.shape[0]
    # hoverinfo "skip": the pointer must land on the lattice's points, or a click selects nothing.
    fig = go.Figure(
        go.Heatmap(
            z=img,
            zmin=0.0,
            zmax=1.0,
            colorscale=_GREY,
            showscale=False,
            hoverinfo="skip" if edit_grid else None,
            hovertemplate=None if edit_grid else "x %{x}, y %{y}: %{z:.2f}<extra></extra>",
        )
    )
    if edit_grid:
        g = edit_grid
        p = n / g
        rows, cols = np.divmod(np.arange(g * g), g)
        # Pixel j covers j - 0.5 .. j + 0.5, so cell i's centre is at i * p + p / 2 - 0.5.
        xs, ys = cols * p + p / 2 - 0.5, rows * p + p / 2 - 0.5
        word = "patch" if p > 1 else "pixel"
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                customdata=np.arange(g * g),
                marker={"symbol": "square", "size": max(4, int(0.8 * height / g)), "color": "rgba(0,0,0,0)"},
                selected={"marker": {"opacity": 0}},
                unselected={"marker": {"opacity": 0}},
                text=[
                    f"{word} {i} (row {r}, col {c})" for i, (r, c) in enumerate(zip(rows, cols, strict=True))
                ],
                hovertemplate="%{text}<extra></extra>",
                showlegend=False,
            )
        )
        if p > 1:  # faint patch borders: the cells a click acts on
            for k in range(1, g):
                edge = k * p - 0.5
                fig.add_shape(type="line", x0=edge, x1=edge, y0=-0.5, y1=n - 0.5, line=_GRID_LINE)
                fig.add_shape(type="line", y0=edge, y1=edge, x0=-0.5, x1=n - 0.5, line=_GRID_LINE)
    # Fixed ranges: in click mode the drag mode is "pan", and the picture must not move under the mouse.
    fig.update_xaxes(visible=False, range=[-0.5, n - 0.5], constrain="domain", fixedrange=True)
    fig.update_yaxes(
        visible=False, range=[n - 0.5, -0.5], scaleanchor="x", constrain="domain", fixedrange=True
    )
    fig.update_layout(
        title={"text": title, "font": {"size": 13}, "x": 0.5, "xanchor": "center", "y": 0.98},
        height=height,
        margin={"l": 2, "r": 2, "t": 26, "b": 2},
        dragmode={"click": "pan", "box": "select", "lasso": "lasso"}[tool],
        clickmode="event+select",
        hovermode="closest",
        hoverdistance=height // 4,
    )
    return fig


_GRID_LINE = {"color": "rgba(120,160,255,0.35)", "width": 1}


# Magma with its first stop moved from #000004 to #000000. Streamlit's plotly theme reserves the
# colours #000001-#000040 as placeholders and swaps them for theme colours in the browser, so plain
# "Magma" drew zero as pink (streamlit/elements/lib/streamlit_plotly_theme.py: CATEGORY_3).
MAGMA = [[i / (len(pc.sequential.Magma) - 1), c] for i, c in enumerate(pc.sequential.Magma)]
MAGMA[0][1] = "#000000"


VISIBLE_GREY = "#b0b0b0"  # visible patches on error / uncertainty maps: no colour of the scale


def patch_heatmap(
    values: np.ndarray,
    title: str,
    zmax: float | None = None,
    height: int = 260,
    hidden: np.ndarray | None = None,
) -> go.Figure:
    """A map of per-patch (or per-pixel) numbers (error, uncertainty, hallucination score).

    NaN = not applicable. With ``hidden`` (a (grid, grid) bool mask, True = hidden) only hidden
    cells carry the colour scale; visible ones are drawn neutral grey, with a legend entry saying so,
    since any colour of the scale would read as a value (white is Magma's largest).
    """
    z = np.asarray(values, dtype=float)
    traces = []
    if hidden is not None:
        scale = z.shape[0] // hidden.shape[0]
        hidden_cells = np.kron(np.asarray(hidden, dtype=bool), np.ones((scale, scale), dtype=bool))
        traces.append(
            go.Heatmap(
                z=np.where(hidden_cells, np.nan, 0.0),
                colorscale=[[0.0, VISIBLE_GREY], [1.0, VISIBLE_GREY]],
                showscale=False,
                hovertemplate="row %{y}, col %{x}: visible<extra></extra>",
            )
        )
        z = np.where(hidden_cells, z, np.nan)
    traces.append(
        go.Heatmap(
            z=z,
            zmin=0.0,
            zmax=zmax,
            colorscale=MAGMA,
            colorbar={"thickness": 10},
            hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig = go.Figure(traces)
    if hidden is not None:  # a legend swatch for the grey: heatmaps have no legend entries
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name="visible patch (not scored)",
                marker={"symbol": "square", "size": 12, "color": VISIBLE_GREY},
                showlegend=True,
            )
        )
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        height=height,
        margin=_MARGIN,
        plot_bgcolor="white",
        legend={"orientation": "h", "x": 0, "y": -0.02, "yanchor": "top", "font": {"size": 11}},
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
        errs = [r.get(f"{key}_ci95") or 0.0 for r in rows]
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


def label_efficiency_chart(
    curves: Sequence[tuple[str, Sequence[int], Sequence[float], Sequence[float | None], bool]],
    title: str = "",
    height: int = 340,
) -> go.Figure:
    """Accuracy against labelled images (log x). Each curve: (name, labels, accuracy, 95% CI or None,
    dashed); dashed curves are random-init baselines, drawn in their model's colour."""
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    fig = go.Figure()
    solid = 0
    for name, xs, ys, cis, dashed in curves:
        colour = palette[(solid - 1 if dashed else solid) % len(palette)]
        solid += 0 if dashed else 1
        errors = [c or 0.0 for c in cis]
        fig.add_trace(
            go.Scatter(
                x=list(xs),
                y=list(ys),
                name=name,
                mode="lines+markers",
                line={"color": colour, "dash": "dash" if dashed else "solid"},
                error_y={"type": "data", "array": errors, "visible": any(c is not None for c in cis)},
            )
        )
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        xaxis={"title": "labelled images", "type": "log"},
        yaxis={"title": "shape accuracy (held out)", "range": [0.45, 1.01]},
        height=height,
        margin={"l": 50, "r": 8, "t": 36, "b": 40},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def convergence_chart(rows: Sequence[dict], chosen: int | None = None, height: int = 340) -> go.Figure:
    """Held-out loss and own-ratio hallucination rate against training steps, one line per cell
    (seed mean, bars = min..max over seeds); a dotted line marks the chosen budget."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("held-out loss (hidden patches)", "hallucination rate")
    )
    cells = sorted({r["cell"] for r in rows})
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
    for i, cell in enumerate(cells):
        for col, key in ((1, "held_out_loss"), (2, "halluc_rate_own")):
            steps = sorted({r["steps"] for r in rows if r["cell"] == cell})
            vals = [[r[key] for r in rows if r["cell"] == cell and r["steps"] == s] for s in steps]
            means = [sum(v) / len(v) for v in vals]
            fig.add_trace(
                go.Scatter(
                    x=steps,
                    y=means,
                    name=cell,
                    legendgroup=cell,
                    showlegend=col == 1,
                    mode="lines+markers",
                    line={"color": palette[i % len(palette)]},
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [max(v) - m for v, m in zip(vals, means, strict=True)],
                        "arrayminus": [m - min(v) for v, m in zip(vals, means, strict=True)],
                    },
                ),
                row=1,
                col=col,
            )
    for col in (1, 2):
        fig.update_xaxes(type="log", title_text="training steps (batch 64)", row=1, col=col)
        if chosen is not None:
            fig.add_vline(x=chosen, line_dash="dot", line_color="grey", row=1, col=col)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_layout(
        height=height, margin={"l": 50, "r": 8, "t": 40, "b": 40}, legend={"orientation": "h", "y": -0.3}
    )
    return fig
