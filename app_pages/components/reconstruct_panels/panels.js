// The Reconstruct page in the browser: editor state, pointer / touch / keyboard editing, the model's
// forward pass (mae.js, prepended to this file by the component's Python side) and the drawing of the
// panels, maps and verdict. Python sends the model's bytes (loader.js), the picture and the starting
// state; the edited state goes back, debounced, with setStateValue("edit", ...) so the URL follows.
// docs/browser.md describes the design and the test hook window.__toymae.

const INSTANCES = new WeakMap(); // the component's root -> its Panels (Streamlit calls us on every new data)
const BYTES = (globalThis.__toymaeModelBytes ??= { bytes: new Map(), listeners: new Set() });
const DECODED = new Map(); // model id -> decoded model (a few at most)
const DEBOUNCE_MS = 250; // quiet time before an edit goes to Python (each send reruns the page script)
const MASK_GREY = 0.35; // hidden patches on the masked panel: toymae.app.images.MASK_GREY
const HATCH = "#0b7285"; // visible patches on the maps: teal hatching, never grey
const FAR_FROM_TRAINING = 0.05 + 1e-9; // a ratio further than one slider step from the training ratio
const PRESETS = ["random", "block", "left half", "right half", "top half", "bottom half", "invert", "clear"];
const MAX_SEED = 1000000;
// matplotlib's magma at nine stops (the maps' colour scale; plotly's "magma" is the same)
const MAGMA = [[0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122], [229, 80, 100],
  [251, 135, 97], [254, 194, 135], [252, 253, 191]];
const ICONS = {
  faithful: "M6.2 11.9 2.6 8.3l1.2-1.2 2.4 2.4 6-6 1.2 1.2z",
  hallucinated: "M8 1a7 7 0 1 0 0 14A7 7 0 0 0 8 1zm-.9 3h1.8v5.2H7.1zm0 6.4h1.8v1.8H7.1z",
  other: "M8 1a7 7 0 1 0 0 14A7 7 0 0 0 8 1zm-.9 10h1.8v1.8H7.1zM8 3.4c1.6 0 2.8 1.1 2.8 2.5 0 1.1-.7 1.7-1.3 2.1-.5.4-.6.6-.6 1.2v.2H7.1V9c0-.9.4-1.4 1-1.8.6-.4.9-.7.9-1.2s-.4-.9-1-.9-1.1.4-1.1 1H5.1c.1-1.6 1.3-2.7 2.9-2.7z",
};

function magma(t) {
  const x = Math.min(Math.max(t, 0), 1) * (MAGMA.length - 1), i = Math.min(Math.floor(x), MAGMA.length - 2);
  const f = x - i, a = MAGMA[i], b = MAGMA[i + 1];
  return [0, 1, 2].map((k) => Math.round(a[k] + f * (b[k] - a[k])));
}

function missingFeatures() {
  const need = {
    "typed arrays": typeof Float64Array === "function" && typeof Uint8Array === "function",
    "pointer events": typeof PointerEvent === "function",
    "canvas 2D": typeof CanvasRenderingContext2D === "function",
    ResizeObserver: typeof ResizeObserver === "function",
    TextDecoder: typeof TextDecoder === "function",
  };
  return Object.keys(need).filter((k) => !need[k]);
}

const fmt = (x, d = 2) => (x === null || x === undefined ? "" : Number(x).toFixed(d));
const round2 = (x) => Math.round(x * 100) / 100; // the closest double to the 2-decimal value, as Python's float("0.65")

class Panels {
  constructor(root) {
    this.root = root;
    const q = (s) => root.querySelector(s);
    this.el = {
      top: q(".tm"), ratio: q("#tm-ratio"), ratioOut: q("#tm-ratio-out"), modeText: q("#tm-mode-text"),
      reseed: q("#tm-reseed"), reveal: q("#tm-reveal"), presets: q(".tm-presets"), presetList: q(".tm-preset-list"),
      badge: q("#tm-badge"), reason: q("#tm-reason"), counts: q("#tm-counts"), live: q("#tm-live"),
      error: q("#tm-error"), uncTitle: q("#tm-unc-title"), uncNote: q("#tm-unc-note"), back: q("#tm-back"),
      originalTitle: q("#tm-original-title"),
    };
    this.canvas = {};
    for (const c of root.querySelectorAll("canvas[data-panel]")) this.canvas[c.dataset.panel] = c;
    this.data = null;
    this.model = null;
    this.state = null;
    this.result = null;
    this.focus = { original: [16, 16], masked: [4, 4] };
    this.focused = null;
    this.drag = null;
    this.timer = null;
    this.job = null;
    this.pending = null; // the event that started the current edit: {name, t}
    this.uncCache = new Map();
    this.timings = [];
    this.wire();
    this.resize = new ResizeObserver(() => this.result && this.draw());
    this.resize.observe(this.el.top);
  }

  // ------------------------------------------------------------ data from Python
  update(component) {
    this.api = component;
    const data = component.data;
    if (!data || typeof data !== "object" || !data.image) return;
    const prev = this.data;
    this.data = data;
    const side = data.image_size, L = data.grid * data.grid;
    if (prev === null) {
      const s = data.state;
      this.state = {
        mode: s.mask_mode === "Draw" ? "Draw" : "Random", ratio: s.ratio, seed: s.mseed, tool: s.tool,
        drawn: s.mask_mode === "Draw" ? MAE.fromHex(s.mask, L) : null, img: s.img ? MAE.fromHex(s.img, side) : null,
      };
      if (this.state.mode === "Draw" && !this.state.drawn) this.state.mode = "Random";
      this.focus = { original: [side >> 1, side >> 1], masked: [data.grid >> 1, data.grid >> 1] };
    }
    // The slider stops where one patch at least stays visible (as Python's mask_ratio_problem): on a
    // small uploaded grid 0.95 would hide every patch.
    let top = 0.95;
    while (top > 0.05 && Math.trunc(L * (1 - top)) < 1) top = round2(top - 0.05);
    this.el.ratio.max = String(top);
    if (this.state.ratio > top) this.state.ratio = top;
    let redraw = prev === null || prev.model !== data.model;
    if (!prev || prev.image.key !== data.image.key || prev.image_size !== side) {
      redraw = true;
      this.picture = Float64Array.from(MAE.fromHex(data.image.bits, side * side));
      this.counter = data.image.counter ? MAE.fromHex(data.image.counter, side * side) : null;
      if (prev && this.state.img) {
        this.state.img = null; // Python chose another picture: it replaces the drawing
        this.changed("picture");
      }
    }
    if (this.state.drawn && this.state.drawn.length !== L) {
      this.state.drawn = null; // another patch grid: the drawn mask no longer fits
      this.state.mode = "Random";
      this.send();
    }
    if (this.state.img && this.state.img.length !== side * side) {
      this.state.img = null; // another picture size: so does the drawing
      this.send();
    }
    this.syncControls();
    if (redraw || !this.model) this.useModel(data.model); // Python's echo of our own edits changes nothing
  }

  useModel(id) {
    if (this.model && this.model.id === id) return this.render();
    const ready = () => {
      if (this.data.model !== id) return false;
      if (!DECODED.has(id)) {
        if (!BYTES.bytes.has(id)) return false;
        try {
          DECODED.set(id, MAE.decodeModel(BYTES.bytes.get(id)));
        } catch (e) {
          this.fail(`the browser could not read the model: ${e.message}`);
          return true;
        }
        while (DECODED.size > 3) DECODED.delete(DECODED.keys().next().value);
      }
      this.model = DECODED.get(id);
      this.render(this.pending ?? { name: "model", t: performance.now() });
      return true;
    };
    if (ready() || this.waiting === id) return;
    this.waiting = id;
    const listener = () => {
      if (this.data.model !== id || ready()) {
        BYTES.listeners.delete(listener);
        if (this.waiting === id) this.waiting = null;
      }
    };
    BYTES.listeners.add(listener);
  }

  fail(message) {
    this.el.error.hidden = false;
    this.el.error.textContent = `The panels cannot be drawn here: ${message}.`;
    this.api.setStateValue("engine", message);
  }

  // ------------------------------------------------------------ editor state
  mask() {
    const s = this.state;
    if (s.mode === "Draw") return s.drawn;
    return MAE.randomMasks(s.seed, 1, this.data.grid * this.data.grid, s.ratio)[0];
  }

  image() {
    return this.state.img ? Float64Array.from(this.state.img) : this.picture;
  }

  pythonState() {
    const s = this.state;
    return {
      mask_mode: s.mode, ratio: s.ratio, mseed: s.seed, tool: s.tool,
      mask: s.mode === "Draw" ? MAE.toHex(s.drawn) : null, img: s.img ? MAE.toHex(s.img) : null,
    };
  }

  // An edit happened: redraw now, tell Python later.
  changed(name, event) {
    this.pending = { name, t: event ? event.timeStamp : performance.now() };
    if (this.model) this.render(this.pending);
    this.pending = null;
    this.syncControls();
    this.send();
  }

  // Tell Python the state once the visitor pauses (each send reruns the page's script).
  send() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.api.setStateValue("edit", this.pythonState()), DEBOUNCE_MS);
  }

  editMask(fn, name, event) {
    const s = this.state;
    if (s.mode !== "Draw") s.drawn = this.mask().slice(); // editing a random mask starts a drawn one from it
    s.mode = "Draw";
    fn(s.drawn);
    this.changed(name, event);
  }

  editImage(fn, name, event) {
    if (!this.state.img) this.state.img = Uint8Array.from(this.picture, (v) => (v > 0.5 ? 1 : 0));
    fn(this.state.img);
    this.changed(name, event);
  }

  // ------------------------------------------------------------ controls
  wire() {
    const { el } = this;
    el.ratio.addEventListener("input", (e) => {
      this.state.ratio = round2(Number(el.ratio.value));
      this.state.mode = "Random";
      this.changed("slider", e);
    });
    el.reseed.addEventListener("click", (e) => {
      this.state.seed = (this.state.seed + 1) % (MAX_SEED + 1);
      this.state.mode = "Random";
      this.changed("reseed", e);
    });
    for (const r of this.root.querySelectorAll('input[name="tm-tool"]')) {
      r.addEventListener("change", (e) => {
        this.state.tool = r.value;
        this.changed("tool", e);
      });
    }
    for (const name of PRESETS) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = name;
      b.dataset.preset = name;
      b.addEventListener("click", (e) => this.preset(name, e));
      el.presetList.appendChild(b);
    }
    for (const b of this.root.querySelectorAll("[data-start]")) b.addEventListener("click", (e) => this.start(b.dataset.start, e));
    for (const name of ["original", "masked"]) this.wireGrid(name);
  }

  preset(name, event) {
    this.el.presets.open = false; // one choice closes the list, as a menu does
    if (name === "random") {
      this.state.seed = (this.state.seed + 1) % (MAX_SEED + 1);
      this.state.mode = "Random";
      this.changed("preset", event);
      return;
    }
    const current = this.mask();
    const m = MAE.preset(name, this.data.grid, current, this.state.ratio);
    this.editMask((cells) => cells.set(m), "preset", event);
  }

  start(which, event) {
    const side = this.data.image_size;
    if (which === "page") this.state.img = null;
    else if (which === "blank") this.state.img = new Uint8Array(side * side);
    else this.state.img = MAE.fromHex(this.data.starts[which], side * side);
    this.changed("draw start", event);
  }

  syncControls() {
    const s = this.state, { el } = this;
    if (!s) return;
    el.ratio.value = String(s.ratio);
    el.ratioOut.textContent = fmt(s.ratio);
    const how = { Click: "click a patch", Box: "drag a box", Lasso: "draw a loop", Brush: "brush over patches" }[s.tool];
    el.modeText.textContent = `${s.mode === "Draw" ? "drawn mask" : `random mask, seed ${s.seed}`}; ${how}`;
    for (const r of this.root.querySelectorAll('input[name="tm-tool"]')) r.checked = r.value === s.tool;
    el.back.disabled = !s.img;
  }

  // ------------------------------------------------------------ pointer, touch and keyboard editing
  // The original panel edits pixels of the picture, the masked panel patches of the mask.
  cells(name) {
    return name === "masked" ? this.data.grid : this.data.image_size;
  }

  at(name, e) {
    const r = this.canvas[name].getBoundingClientRect(), n = this.cells(name);
    return [((e.clientX - r.left) / r.width) * n, ((e.clientY - r.top) / r.height) * n]; // (x, y) in cells
  }

  apply(name, indices, value, action, event) {
    const edit = (cells) => {
      for (const i of indices) cells[i] = value === "toggle" ? 1 - cells[i] : value;
    };
    if (name === "masked") this.editMask(edit, action, event);
    else this.editImage(edit, action, event);
  }

  wireGrid(name) {
    const c = this.canvas[name];
    c.addEventListener("pointerdown", (e) => {
      if (!this.model || (e.pointerType === "mouse" && e.button !== 0)) return;
      e.preventDefault();
      c.setPointerCapture(e.pointerId);
      const p = this.at(name, e);
      this.drag = { name, tool: this.state.tool, points: [p], id: e.pointerId };
      if (this.state.tool === "Brush") this.brush(p, p, e);
    });
    c.addEventListener("pointermove", (e) => {
      const d = this.drag;
      if (!d || d.id !== e.pointerId) return;
      const p = this.at(name, e), last = d.points[d.points.length - 1];
      d.points.push(p);
      if (d.tool === "Brush") this.brush(last, p, e);
      else this.draw(name); // the box or lasso outline follows the pointer
    });
    const end = (e) => {
      const d = this.drag;
      if (!d || d.id !== e.pointerId) return;
      this.drag = null;
      const n = this.cells(name), value = this.el.reveal.checked ? 0 : 1;
      const inside = [];
      if (d.tool === "Box" || d.tool === "Lasso") {
        const poly = d.tool === "Box" ? boxPolygon(d.points[0], d.points[d.points.length - 1]) : d.points;
        for (let r = 0; r < n; r++) for (let q = 0; q < n; q++) if (inPolygon(q + 0.5, r + 0.5, poly)) inside.push(r * n + q);
        if (e.type === "pointerup" && inside.length) return this.apply(name, inside, value, d.tool.toLowerCase(), e);
      } else if (d.tool === "Click" && e.type === "pointerup") {
        const [x, y] = d.points[0];
        if (x >= 0 && y >= 0 && x < n && y < n) {
          this.focus[name] = [Math.floor(y), Math.floor(x)];
          return this.apply(name, [Math.floor(y) * n + Math.floor(x)], "toggle", "click", e);
        }
      } else if (d.tool === "Brush") {
        return this.changed("brush", e); // the stroke's cells are already set; this is its last redraw
      }
      this.draw(name);
    };
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
    c.addEventListener("focus", () => {
      this.focused = name;
      this.draw(name);
    });
    c.addEventListener("blur", () => {
      this.focused = null;
      this.draw(name);
    });
    c.addEventListener("keydown", (e) => {
      if (!this.model) return;
      const n = this.cells(name), f = this.focus[name];
      const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
      if (moves[e.key]) {
        e.preventDefault();
        f[0] = Math.min(n - 1, Math.max(0, f[0] + moves[e.key][0]));
        f[1] = Math.min(n - 1, Math.max(0, f[1] + moves[e.key][1]));
        this.draw(name);
        this.announce(name);
      } else if (e.key === " " || e.key === "Enter") {
        e.preventDefault();
        this.apply(name, [f[0] * n + f[1]], "toggle", "key", e);
        this.announce(name);
      }
    });
  }

  // A brush stroke from a to b: every cell the segment crosses, and on the original panel also the
  // pixels whose centre lies within one pixel of it (a line about two pixels wide).
  brush(a, b, event) {
    const name = this.drag.name, n = this.cells(name), value = this.el.reveal.checked ? 0 : 1;
    const radius = name === "masked" ? 0 : 1.0;
    const cells = name === "masked" ? (this.state.mode === "Draw" ? this.state.drawn : null) : this.state.img;
    const hit = [];
    const steps = Math.max(1, Math.ceil(Math.hypot(b[0] - a[0], b[1] - a[1]) * 4));
    for (let k = 0; k <= steps; k++) {
      const x = a[0] + ((b[0] - a[0]) * k) / steps, y = a[1] + ((b[1] - a[1]) * k) / steps;
      for (let r = Math.floor(y - radius); r <= Math.floor(y + radius); r++)
        for (let q = Math.floor(x - radius); q <= Math.floor(x + radius); q++) {
          if (r < 0 || q < 0 || r >= n || q >= n) continue;
          const under = r === Math.floor(y) && q === Math.floor(x);
          if ((under || Math.hypot(q + 0.5 - x, r + 0.5 - y) <= radius) && (!cells || cells[r * n + q] !== value)) hit.push(r * n + q);
        }
    }
    if (!hit.length) return;
    // Live while the stroke goes on, at most one forward pass per frame; pointerup redraws once more.
    const edit = (c) => hit.forEach((i) => (c[i] = value));
    if (name === "masked") {
      if (this.state.mode !== "Draw") this.state.drawn = this.mask().slice();
      this.state.mode = "Draw";
      edit(this.state.drawn);
    } else {
      if (!this.state.img) this.state.img = Uint8Array.from(this.picture, (v) => (v > 0.5 ? 1 : 0));
      edit(this.state.img);
    }
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = null;
        this.render({ name: "brush move", t: event.timeStamp });
      });
    }
  }

  announce(name) {
    const [r, q] = this.focus[name], n = this.cells(name);
    const on = name === "masked" ? this.mask()[r * n + q] : (this.state.img ?? this.picture.map((v) => (v > 0.5 ? 1 : 0)))[r * n + q];
    const what = name === "masked" ? (on ? "hidden" : "visible") : on ? "ink" : "background";
    this.el.live.textContent = `Row ${r + 1}, column ${q + 1}: ${what}.`;
  }

  // ------------------------------------------------------------ the model and the pictures
  render(trigger) {
    const { data, model } = this;
    if (!model || !data) return;
    const t0 = performance.now();
    const L = model.cfg.L, side = model.cfg.imageSize;
    if (L !== data.grid * data.grid || side !== data.image_size) return; // Python's next data brings the match
    const mask = this.mask(), img = this.image();
    let rec;
    try {
      rec = MAE.reconstruct(model, img, mask);
    } catch (e) {
      return this.fail(`the forward pass failed: ${e.message}`);
    }
    if (!rec.recon.every(Number.isFinite)) return this.fail("the model's output is not finite");
    const truth = this.state.img ? null : data.image.truth;
    const scores = truth ? MAE.score(this.picture, this.counter, rec.recon, rec.hiddenPx, data.rule) : null;
    const verdict = MAE.verdict(scores, truth, data.rule);
    const nHidden = mask.reduce((a, b) => a + b, 0);
    this.result = { mask, img, rec, verdict, nHidden, unc: null, uncKey: null };
    this.draw();
    this.words();
    const drawn = performance.now();
    const timing = { action: trigger ? trigger.name : "render", input: trigger ? trigger.t : t0, start: t0, drawn };
    this.timings.push(timing);
    if (this.timings.length > 500) this.timings.shift();
    requestAnimationFrame(() => setTimeout(() => (timing.painted = performance.now()), 0));
    this.el.top.setAttribute("aria-busy", "false");
    this.publish();
    this.uncertainty();
  }

  uncertainty() {
    const { model, data, result, state } = this;
    const L = model.cfg.L, k = data.rule.uncertainty_masks;
    const ratio = Math.min(state.mode === "Draw" ? result.nHidden / L : state.ratio, data.rule.max_uncertainty_ratio);
    const key = `${model.id}|${MAE.toHex(result.img.map((v) => (v > 0.5 ? 1 : 0)))}|${state.seed}|${Math.trunc(L * (1 - ratio))}`;
    result.uncKey = key;
    result.uncRatio = ratio;
    if (this.job) this.job.cancelled = true;
    const done = (unc) => {
      if (this.result !== result) return;
      result.unc = unc;
      result.uncAt = performance.now();
      this.draw("uncertainty");
      this.words();
      this.publish();
    };
    if (this.uncCache.has(key)) return done(this.uncCache.get(key));
    const job = (this.job = { cancelled: false, gen: MAE.uncertainty(model, result.img, state.seed, k, ratio) });
    const step = () => {
      if (job.cancelled) return;
      const until = performance.now() + 8; // short slices: pointer events stay answered meanwhile
      let s;
      do s = job.gen.next();
      while (!s.done && performance.now() < until);
      if (!s.done) return void setTimeout(step, 0);
      this.uncCache.set(key, s.value);
      if (this.uncCache.size > 64) this.uncCache.delete(this.uncCache.keys().next().value);
      done(s.value);
    };
    setTimeout(step, 0);
  }

  // The page's test hook (docs/browser.md): what is on screen, as numbers.
  publish() {
    const r = this.result, s = this.state;
    window.__toymae = {
      ready: true,
      model: this.model.id,
      state: this.pythonState(),
      result: {
        reconstruction: Array.from(r.rec.recon),
        mask: MAE.toHex(r.mask),
        n_hidden: r.nHidden,
        loss_hidden: r.rec.loss,
        patch_error: Array.from(r.rec.patchError),
        verdict: r.verdict,
        uncertainty: r.unc ? Array.from(r.unc) : null,
        uncertainty_ratio: r.uncRatio,
        uncertainty_seed: s.seed,
      },
      timings: this.timings,
      apply: (patch) => this.applyState(patch),
    };
  }

  applyState(p) {
    const s = this.state, L = this.data.grid * this.data.grid, side = this.data.image_size;
    if ("ratio" in p) s.ratio = round2(p.ratio);
    if ("mseed" in p) s.seed = p.mseed;
    if ("mask" in p) s.drawn = p.mask ? MAE.fromHex(p.mask, L) : null;
    if ("img" in p) s.img = p.img ? MAE.fromHex(p.img, side) : null;
    if ("mask_mode" in p) s.mode = p.mask_mode === "Draw" && s.drawn ? "Draw" : "Random";
    this.changed("apply");
  }

  // ------------------------------------------------------------ drawing
  draw(only) {
    const r = this.result;
    if (!r) return;
    const side = this.data.image_size, g = this.data.grid, p = side / g;
    const hiddenPx = r.rec.hiddenPx;
    const grey = (v) => {
      const u = Math.round(Math.min(Math.max(v, 0), 1) * 255);
      return [u, u, u];
    };
    const panels = {
      original: () => this.pixels("original", side, (i) => grey(r.img[i])),
      masked: () => this.pixels("masked", side, (i) => grey(hiddenPx[i] ? MASK_GREY : r.img[i]), g),
      reconstruction: () => this.pixels("reconstruction", side, (i) => grey(r.rec.recon[i])),
      pasted: () => this.pixels("pasted", side, (i) => grey(r.rec.pasted[i])),
      error: () => this.map("error", g, r.mask, (cell) => r.rec.patchError[cell]),
      uncertainty: () => this.map("uncertainty", side, r.mask, r.unc ? (i) => r.unc[i] : null, p),
    };
    for (const [name, f] of Object.entries(panels)) if (!only || only === name) f();
  }

  fit(name) {
    const c = this.canvas[name], dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(c.getBoundingClientRect().width * dpr));
    if (c.width !== w || c.height !== w) c.width = c.height = w;
    const ctx = c.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    return [ctx, w];
  }

  pixels(name, side, colour, gridLines) {
    const [ctx, w] = this.fit(name);
    const off = (this.off ??= document.createElement("canvas"));
    off.width = off.height = side;
    const octx = off.getContext("2d"), im = octx.createImageData(side, side);
    for (let i = 0; i < side * side; i++) {
      const [r, g, b] = colour(i);
      im.data.set([r, g, b, 255], 4 * i);
    }
    octx.putImageData(im, 0, 0);
    ctx.drawImage(off, 0, 0, w, w);
    if (gridLines) {
      ctx.strokeStyle = "rgba(255, 255, 255, 0.18)";
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let k = 1; k < gridLines; k++) {
        const x = Math.round((k * w) / gridLines) + 0.5;
        ctx.moveTo(x, 0);
        ctx.lineTo(x, w);
        ctx.moveTo(0, x);
        ctx.lineTo(w, x);
      }
      ctx.stroke();
    }
    this.overlay(name, ctx, w);
  }

  // the focus cursor and the box / lasso being dragged
  overlay(name, ctx, w) {
    if (!(name in this.focus)) return;
    const n = this.cells(name), s = w / n;
    if (this.focused === name) {
      const [r, q] = this.focus[name];
      ctx.lineWidth = 3;
      ctx.strokeStyle = "#ffd400";
      ctx.strokeRect(q * s + 1.5, r * s + 1.5, s - 3, s - 3);
      ctx.lineWidth = 1;
      ctx.strokeStyle = "#1a5fb4";
      ctx.strokeRect(q * s + 3.5, r * s + 3.5, s - 7, s - 7);
    }
    const d = this.drag;
    if (d && d.name === name && (d.tool === "Box" || d.tool === "Lasso")) {
      const poly = d.tool === "Box" ? boxPolygon(d.points[0], d.points[d.points.length - 1]) : d.points;
      ctx.beginPath();
      poly.forEach(([x, y], k) => (k ? ctx.lineTo(x * s, y * s) : ctx.moveTo(x * s, y * s)));
      ctx.closePath();
      ctx.fillStyle = "rgba(255, 212, 0, 0.18)";
      ctx.fill();
      ctx.setLineDash([5, 4]);
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#ffd400";
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  // An error or uncertainty map: hidden patches in magma over [0, max], visible patches hatched.
  map(name, n, mask, value, patch = 1) {
    const [ctx, w] = this.fit(name), g = this.data.grid, s = w / g;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, w);
    let max = 0;
    if (value) for (let i = 0; i < n * n; i++) if (mask[Math.floor(Math.floor(i / n) / patch) * g + Math.floor((i % n) / patch)]) max = Math.max(max, value(i));
    if (value) {
      const off = (this.offMap ??= document.createElement("canvas"));
      off.width = off.height = n;
      const octx = off.getContext("2d"), im = octx.createImageData(n, n);
      for (let i = 0; i < n * n; i++) {
        const [r, gg, b] = magma(max > 0 ? value(i) / max : 0);
        im.data.set([r, gg, b, 255], 4 * i);
      }
      octx.putImageData(im, 0, 0);
      ctx.drawImage(off, 0, 0, w, w);
    }
    const tile = (this.hatch ??= hatchTile());
    ctx.fillStyle = ctx.createPattern(tile, "repeat");
    for (let l = 0; l < g * g; l++) {
      if (mask[l] && value) continue;
      const x0 = Math.round((l % g) * s), y0 = Math.round(Math.floor(l / g) * s);
      ctx.fillRect(x0, y0, Math.round(((l % g) + 1) * s) - x0, Math.round((Math.floor(l / g) + 1) * s) - y0);
    }
    if (!value) {
      ctx.fillStyle = "rgba(255, 255, 255, 0.85)";
      ctx.fillRect(0, w / 2 - 14, w, 28);
      ctx.fillStyle = "#31333f";
      ctx.font = `${Math.max(12, Math.round(w / 18))}px sans-serif`;
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText("computing…", w / 2, w / 2);
    }
    const scale = this.root.querySelector(`[data-scale="${name}"]`);
    scale.querySelector(".tm-bar-grad").style.background = `linear-gradient(90deg, ${MAGMA.map((c) => `rgb(${c})`).join(", ")})`;
    scale.querySelector(".tm-hi").textContent = value ? max.toPrecision(2) : "";
    return max;
  }

  // ------------------------------------------------------------ words: verdict, counts, text alternatives
  words() {
    const { result: r, state: s, data, el, model } = this;
    const L = model.cfg.L, v = r.verdict;
    el.badge.dataset.label = v.label;
    el.badge.querySelector("svg").innerHTML = `<path d="${ICONS[v.label] ?? ICONS.other}"/>`;
    el.badge.querySelector("span").textContent = v.label;
    el.reason.textContent = (v.score === null ? "" : `score ${fmt(v.score)} · `) + v.reason;
    const far = s.mode === "Random" && Math.abs(s.ratio - model.cfg.trainRatio) > FAR_FROM_TRAINING;
    el.counts.textContent =
      `${r.nHidden} of ${L} patches hidden (${Math.round((100 * r.nHidden) / L)}%) · loss on hidden patches ${r.rec.loss.toFixed(4)}` +
      (far ? ` · this model was trained at ratio ${model.cfg.trainRatio}; far from it, toymae models reconstruct markedly worse` : "");
    const picture = s.img ? "your drawing" : data.image.truth ? `a ShapeWorld ${data.image.truth}` : "the uploaded picture";
    el.originalTitle.textContent = s.img ? "original (your drawing)" : "original";
    const k = data.rule.uncertainty_masks;
    el.uncTitle.textContent = `uncertainty: pixel spread over ${k} random masks at ratio ${fmt(r.uncRatio)}`;
    el.uncNote.textContent = `Uncertainty is the standard deviation of "reconstruction + visible" over ${k} random masks at the same ratio (mask seed ${s.seed}), shown on the patches hidden here.`;
    const worst = (vals, n) => {
      let best = -1, at = 0;
      vals.forEach((x, i) => {
        if (r.mask[Math.floor(Math.floor(i / n) / (n / this.data.grid)) * this.data.grid + Math.floor((i % n) / (n / this.data.grid))] && x > best) [best, at] = [x, i];
      });
      return best < 0 ? "no hidden patch" : `largest ${best.toPrecision(2)} at row ${Math.floor(at / n) + 1}, column ${(at % n) + 1}`;
    };
    const label = (name, text) => this.canvas[name].setAttribute("aria-label", text);
    label("original", `Original: ${picture}, ${data.image_size} by ${data.image_size} pixels. With the ${s.tool} tool, edit pixels to draw; arrow keys move, Space or Enter flips the focused pixel.`);
    label("masked", `Masked picture: ${r.nHidden} of ${L} patches hidden, shown grey. Arrow keys move between patches; Space or Enter hides or shows the focused patch.`);
    label("reconstruction", `The model's reconstruction of every patch. Loss on hidden patches ${r.rec.loss.toFixed(4)}.`);
    label("pasted", "The reconstruction with the visible patches of the input pasted back in.");
    label("error", `Per-patch error on the hidden patches: ${worst(r.rec.patchError, this.data.grid)}. Visible patches hatched.`);
    label("uncertainty", r.unc ? `Uncertainty on the hidden patches: ${worst(r.unc, data.image_size)}. Visible patches hatched.` : "Uncertainty map: computing.");
  }
}

function boxPolygon(a, b) {
  return [a, [b[0], a[1]], b, [a[0], b[1]]];
}

// even-odd rule: is (x, y) inside the polygon (a list of [x, y])?
function inPolygon(x, y, poly) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function hatchTile() {
  const t = document.createElement("canvas");
  t.width = t.height = 8;
  const c = t.getContext("2d");
  c.fillStyle = "#fff";
  c.fillRect(0, 0, 8, 8);
  c.strokeStyle = HATCH;
  c.lineWidth = 2;
  c.beginPath();
  c.moveTo(-2, 2);
  c.lineTo(2, -2);
  c.moveTo(0, 8);
  c.lineTo(8, 0);
  c.moveTo(6, 10);
  c.lineTo(10, 6);
  c.stroke();
  return t;
}

export default function (component) {
  const root = component.parentElement;
  let panels = INSTANCES.get(root);
  if (!panels) {
    const missing = missingFeatures();
    if (missing.length) {
      component.setStateValue("engine", `this browser lacks ${missing.join(", ")}`);
      return;
    }
    panels = new Panels(root);
    INSTANCES.set(root, panels);
  }
  panels.update(component);
  return () => {
    clearTimeout(panels.timer);
    if (panels.job) panels.job.cancelled = true;
    panels.resize.disconnect();
    INSTANCES.delete(root);
  };
}
