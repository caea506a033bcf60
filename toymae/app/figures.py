"""Plot builders: pure functions from arrays / result rows to plotly figures (no Streamlit here)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from toymae.eval.study import LABEL_BUDGETS
from toymae.reproduce.blog import BLOG_DECODER_DEPTH, BLOG_MASK_RATIO

# Colours: each has one meaning on a page, and shape is never told by colour alone (Okabe-Ito, safe
# for the common colour-vision deficiencies). Representations: circles and squares (also drawn as
# circle and square markers), and its two models in other hues; Hallucinations: the three labels
# (also in words and fill patterns); Reproduce: series, never the green/red of the verdict states.
SHAPE_COLOURS = {"circle": "#0072B2", "square": "#D55E00"}
SHAPE_SYMBOLS = {"circle": "circle", "square": "square"}
MODEL_COLOURS = ["#009E73", "#6A3D9A", "#8C6D1F", "#000000"]
SERIES = ["#0072B2", "#E69F00", "#56B4E9", "#CC79A7", "#000000"]
SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x"]
LABEL_COLOURS = {"faithful": "#0072B2", "hallucinated": "#D55E00", "uncertain": "#CC79A7"}
LABEL_PATTERNS = {"faithful": "", "hallucinated": "x", "uncertain": "/"}
HALLUCINATED = LABEL_COLOURS["hallucinated"]
LABEL_TICKS = LABEL_BUDGETS  # the ticks a label-efficiency axis names; the last one is "all (n)"
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
    axis_note: str = "",
) -> go.Figure:
    """2-D PCA of features: circles drawn as circles, squares as squares (and coloured);
    ``customdata`` = the point's index."""
    fig = go.Figure()
    shapes = np.asarray(shapes)
    for name, colour in SHAPE_COLOURS.items():
        idx = np.flatnonzero(shapes == name)
        fig.add_trace(
            go.Scatter(
                x=points[idx, 0],
                y=points[idx, 1],
                mode="markers",
                name=f"{name}s",
                customdata=idx,
                marker={"color": colour, "size": 7, "opacity": 0.75, "symbol": SHAPE_SYMBOLS[name]},
                text=[hover[i] for i in idx] if hover is not None else None,
                hovertemplate="%{text}<extra></extra>" if hover is not None else None,
            )
        )
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        xaxis_title=f"PC 1{axis_note}",
        yaxis_title=f"PC 2{axis_note}",
        height=height,
        margin={"l": 48, "r": 8, "t": 36, "b": 40},
        legend={"orientation": "h", "y": -0.16, "x": 0, "yanchor": "top"},  # clear of a long title
        # Monospace, so a hover text made of block characters (images.text_thumbnail) is a picture.
        hoverlabel={"font": {"family": "DejaVu Sans Mono, Menlo, Consolas, monospace", "size": 11}},
        clickmode="event+select",
    )
    return _readable(fig)


def sweep_chart(
    rows: Sequence[dict],
    x_key: str,
    metrics: Sequence[tuple],
    blog: dict | None = None,
    title: str = "",
    y_title: str = "accuracy",
    height: int = 360,
    accuracy: bool | None = None,
    colours: Sequence[str] = (),
) -> go.Figure:
    """Mean ± 95% CI over seeds for each metric (``(key, label)`` or ``(key, label, baseline)``)
    against ``x_key``, the blog's numbers beside them. A baseline (by default: a label ending in
    "random init") is drawn dashed, with open markers, in the colour of the metric before it.
    ``accuracy`` (default: ``y_title`` says so) keeps the axis at or below 1; the x ticks are the
    swept values themselves (integers for decoder depth). ``colours``: one per non-baseline metric, where
    the page gives colours a meaning (default ``SERIES``)."""
    rows = sorted(rows, key=lambda r: r[x_key])
    xs = [r[x_key] for r in rows]
    fig = go.Figure()
    colour_index, palette = -1, list(colours) or SERIES
    for key, label, *flag in metrics:
        twin = flag[0] if flag else label.endswith("random init")
        colour_index += 0 if twin and colour_index >= 0 else 1
        ys = [r.get(key) for r in rows]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=label,
                mode="lines+markers",
                line={"color": palette[colour_index % len(palette)], "dash": "dash" if twin else "solid"},
                marker={"symbol": "circle-open" if twin else "circle", "size": 8},
                error_y={**_error_bars(rows, key, ys), "thickness": 1.2, "width": 4},
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
                line={"dash": "dot", "color": "#000000"},
                marker={"symbol": "x", "size": 8},
            )
        )
    accuracy = "accuracy" in y_title if accuracy is None else accuracy
    ticks = sorted(set(xs) | set(blog or {}))
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        xaxis={"title": x_key.replace("_", " "), "tickmode": "array", "tickvals": ticks},
        yaxis={"title": y_title, **(_accuracy_axis(rows, metrics, blog) if accuracy else {})},
        height=height,
        margin={"l": 48, "r": 8, "t": 36, "b": 40},
        legend={"orientation": "h", "y": -0.22, "yanchor": "top"},
    )
    return _readable(fig)


def _error_bars(rows: Sequence[dict], key: str, ys: Sequence[float | None]) -> dict:
    """Plotly error bars from ``{key}_ci`` ([lo, hi]: asymmetric) or ``{key}_ci95`` (a half-width)."""
    if any(r.get(f"{key}_ci") for r in rows):
        lo = [
            (y - r[f"{key}_ci"][0]) if r.get(f"{key}_ci") and y is not None else 0.0
            for r, y in zip(rows, ys, strict=True)
        ]
        hi = [
            (r[f"{key}_ci"][1] - y) if r.get(f"{key}_ci") and y is not None else 0.0
            for r, y in zip(rows, ys, strict=True)
        ]
        return {"type": "data", "symmetric": False, "array": hi, "arrayminus": lo, "visible": True}
    return {"type": "data", "array": [r.get(f"{key}_ci95") or 0.0 for r in rows], "visible": True}


def _accuracy_axis(rows: Sequence[dict], metrics: Sequence[tuple], blog: dict | None) -> dict:
    """An accuracy axis from a little below the lowest value (or its error bar) to exactly 1."""
    lows = [r[k] - (r.get(f"{k}_ci95") or 0.0) for r in rows for k, *_ in metrics if r.get(k) is not None]
    lows += list((blog or {}).values())
    lo = min([*lows, 0.9])
    return {"range": [max(0.0, np.floor((lo - 0.02) * 20) / 20), 1.0]}


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
    """Confidently hallucinated share per bin (e.g. visible fraction of the object) with Wilson
    intervals; each bin's count of decidable images is in its tick label, clear of the error bars."""
    labels = [f"{b['lo']:.1f}–{b['hi']:.1f}<br>n={b['n_decidable']}" for b in bins]
    rates = [b["rate"] for b in bins]
    lo = [(b["rate"] - b["ci95"][0]) if b["rate"] is not None else 0 for b in bins]
    hi = [(b["ci95"][1] - b["rate"]) if b["rate"] is not None else 0 for b in bins]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=rates,
            marker={
                "color": HALLUCINATED,
                "pattern": {"shape": "x", "fgcolor": "#ffffff", "fillmode": "overlay", "solidity": 0.25},
            },
            error_y={"type": "data", "symmetric": False, "array": hi, "arrayminus": lo, "color": "#262730"},
            hovertemplate="%{x}: %{y:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        xaxis={"title": "visible fraction of the object"},
        yaxis={"range": [0, 1], "title": "hallucinated share"},
        height=height,
        margin={"l": 48, "r": 8, "t": 36, "b": 48},
    )
    return _readable(fig)


def fraction_chart(rows: Sequence[tuple[str, dict[str, float | None]]], height: int = 280) -> go.Figure:
    """Horizontal bars, one per row (e.g. true circles, their blind decoder, ...), each split into the
    faithful, hallucinated and uncertain shares; each label has its colour and its fill pattern."""
    names = [name for name, _ in rows]
    fig = go.Figure()
    for label, colour in LABEL_COLOURS.items():
        values = [r.get(label) for _, r in rows]
        fig.add_trace(
            go.Bar(
                y=names,
                x=values,
                name=label,
                orientation="h",
                marker={
                    "color": colour,
                    "pattern": {
                        "shape": LABEL_PATTERNS[label],
                        "fgcolor": "#ffffff",
                        "fillmode": "overlay",
                        "solidity": 0.25,
                    },
                },
                text=[f"{v:.2f}" if v is not None and v >= 0.08 else "" for v in values],
                textposition="inside",
                insidetextanchor="middle",
                textfont={"color": "#ffffff"},
                hovertemplate=f"%{{y}}: {label} %{{x:.3f}}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="stack",
        xaxis={"range": [0, 1], "title": "share of decidable images"},
        yaxis={"autorange": "reversed"},
        height=height,
        margin={"l": 8, "r": 8, "t": 8, "b": 40},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0, "traceorder": "normal"},
    )
    return _readable(fig)


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
    """Accuracy against labelled images (log x, ticks at the label budgets and "all"). Each curve:
    (name, labels, accuracy, 95% CI or None, dashed); dashed curves are random-init baselines, drawn in
    their model's colour with open markers."""
    fig = go.Figure()
    solid = 0
    ticks: set[int] = set()
    for name, xs, ys, cis, dashed in curves:
        colour = MODEL_COLOURS[(solid - 1 if dashed else solid) % len(MODEL_COLOURS)]
        solid += 0 if dashed else 1
        ticks |= set(xs)
        fig.add_trace(
            go.Scatter(
                x=list(xs),
                y=list(ys),
                name=name,
                mode="lines+markers",
                line={"color": colour, "dash": "dash" if dashed else "solid"},
                marker={"symbol": "diamond-open" if dashed else "diamond", "size": 8},
                error_y={
                    "type": "data",
                    "array": [c or 0.0 for c in cis],
                    "visible": any(c is not None for c in cis),
                    "thickness": 1.2,
                    "width": 4,
                },
            )
        )
    vals = sorted(ticks)
    text = [str(v) if v in LABEL_TICKS else f"all ({v:,})" for v in vals]
    lows = [y - (c or 0.0) for _, _, ys, cis, _ in curves for y, c in zip(ys, cis, strict=True)]
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        xaxis={
            "title": "labelled images",
            "type": "log",
            "tickmode": "array",
            "tickvals": vals,
            "ticktext": text,
        },
        yaxis={
            "title": "shape accuracy (held out)",
            "range": [max(0.0, np.floor((min([*lows, 0.9]) - 0.02) * 20) / 20), 1.0],
        },
        height=height,
        margin={"l": 50, "r": 8, "t": 36, "b": 40},
        legend={"orientation": "h", "y": -0.22, "yanchor": "top"},
    )
    return _readable(fig)


def convergence_chart(rows: Sequence[dict], chosen: int | None = None, height: int = 340) -> go.Figure:
    """Held-out loss and own-ratio hallucination rate against training steps, one line per cell
    (seed mean, bars = min..max over seeds); a dotted line marks the chosen budget."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("held-out loss (hidden patches)", "hallucination rate")
    )
    cells = sorted({r["cell"] for r in rows})
    all_steps = sorted({r["steps"] for r in rows})
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
                    line={"color": SERIES[i % len(SERIES)]},
                    marker={"symbol": SYMBOLS[i % len(SYMBOLS)], "size": 7},
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [max(v) - m for v, m in zip(vals, means, strict=True)],
                        "arrayminus": [m - min(v) for v, m in zip(vals, means, strict=True)],
                        "thickness": 1.2,
                        "width": 3,
                    },
                ),
                row=1,
                col=col,
            )
    for col in (1, 2):
        fig.update_xaxes(
            type="log",
            title_text="training steps (batch 64)",
            tickmode="array",
            tickvals=all_steps,
            ticktext=[f"{s:,}" for s in all_steps],
            row=1,
            col=col,
        )
        if chosen is not None:
            fig.add_vline(x=chosen, line_dash="dot", line_color="#595959", row=1, col=col)
    losses = [r["held_out_loss"] for r in rows]
    ticks = log_ticks(min(losses), max(losses))
    fig.update_yaxes(
        type="log", tickmode="array", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks], row=1, col=1
    )
    fig.update_yaxes(range=[0, 1], row=1, col=2)
    fig.update_layout(
        height=height, margin={"l": 50, "r": 8, "t": 40, "b": 40}, legend={"orientation": "h", "y": -0.3}
    )
    return _readable(fig)


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks 1, 2, 5 x 10^k from just below ``lo`` to just above ``hi`` (a log axis without the minor
    labels plotly would add)."""
    out = []
    for k in range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1):
        out += [m * 10.0**k for m in (1, 2, 5)]
    below = max([t for t in out if t <= lo], default=out[0])
    above = min([t for t in out if t >= hi], default=out[-1])
    return [float(f"{t:.3g}") for t in out if below <= t <= above]


# Text and ticks in Streamlit's text colour: its default grey for chart text is under 4.5:1 on white.
TEXT = "#262730"


def _readable(fig: go.Figure) -> go.Figure:
    fig.update_layout(font={"color": TEXT}, legend={"font": {"color": TEXT}})
    fig.update_xaxes(tickfont={"color": TEXT}, title_font={"color": TEXT}, minor={"showgrid": False})
    fig.update_yaxes(tickfont={"color": TEXT}, title_font={"color": TEXT})
    return fig
