// The toymae masked autoencoder's forward pass, its random masks and its hallucination verdict, over
// typed arrays: a line-by-line port of toymae/model.py (encode_visible, forward_decoder, forward_loss),
// toymae/inference.py (reconstruct), toymae/app/explore.py (uncertainty_map), toymae/masks.py
// (presets, hex text) and toymae/eval/hallucination.py (score_reconstructions, image_verdict).
// No DOM here: panels.js draws. tests/app/test_browser_reconstruct.py holds these numbers against
// torch's (reconstruction within 1e-4, the same mask draws, the same verdict).
//
// Arithmetic is in float64 over the model's float32 weights; torch works in float32, so the two
// differ by float32 rounding (~1e-6 here), far inside the test's 1e-4. Outputs that torch returns as
// float32 (the reconstruction, the scores) are rounded to float32 before anything compares them.

const MAE = (() => {
  "use strict";

  // ---------------------------------------------------------------- the model's bytes
  // [u32 little-endian header length][JSON header][float32 little-endian data]: see
  // toymae/app/reconstruct_browser.py model_bytes.
  function decodeModel(bytes) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = view.getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + n)));
    if (header.format !== "toymae-browser-model-1") throw new Error(`unknown model format ${header.format}`);
    const start = 4 + n;
    const count = (bytes.byteLength - start) / 4;
    const data = new Float32Array(count);
    new Uint8Array(data.buffer).set(bytes.subarray(start, start + 4 * count)); // aligned copy
    const t = {};
    for (const e of header.tensors) t[e.name] = data.subarray(e.offset, e.offset + e.length);
    const shapes = Object.fromEntries(header.tensors.map((e) => [e.name, e.shape]));
    const c = header.config;
    if (c.in_chans !== 1) throw new Error("the page's pictures are greyscale: in_chans must be 1");
    const grid = c.image_size / c.patch_size;
    const cfg = {
      imageSize: c.image_size, patch: c.patch_size, grid, L: grid * grid, pd: c.patch_size * c.patch_size,
      D: c.embed_dim, heads: c.num_heads, depth: c.depth, hidden: shapes["blocks.0.fc1.weight"][0],
      Dd: c.decoder_embed_dim, dheads: c.decoder_num_heads, ddepth: c.decoder_depth,
      dhidden: shapes["decoder_blocks.0.fc1.weight"][0], normPix: c.norm_pix_loss, trainRatio: c.mask_ratio,
    };
    const N = cfg.L + 1, W = Math.max(cfg.D, cfg.Dd);
    const scratch = {
      x: new Float64Array(N * W), h: new Float64Array(N * W), qkv: new Float64Array(N * 3 * W),
      a: new Float64Array(N * W), m: new Float64Array(N * Math.max(cfg.hidden, cfg.dhidden)),
      y: new Float64Array(N * cfg.Dd), q: new Float64Array(N * W), k: new Float64Array(N * W), vT: new Float64Array(N * W),
      o: new Float64Array(N * W), sc: new Float64Array(N * N), zeros: new Float64Array(Math.max(N, W)), out: new Float64Array(N * cfg.pd),
    };
    return { id: header.id, config: c, cfg, t, scratch };
  }

  // ---------------------------------------------------------------- layers
  // y[n, o] = b[o] + sum_i x[n, i] W[o, i]   (torch's Linear: W is (out, in)). Two tokens times four
  // outputs per pass: eight running sums share each load, about twice the speed of one dot product
  // at a time in V8.
  function linear(x, n, inDim, W, b, outDim, y) {
    let r = 0;
    for (; r + 1 < n; r += 2) {
      const xa = r * inDim, xb = xa + inDim, ya = r * outDim, yb = ya + outDim;
      let o = 0;
      for (; o + 3 < outDim; o += 4) {
        const w0 = o * inDim, w1 = w0 + inDim, w2 = w1 + inDim, w3 = w2 + inDim;
        let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
        for (let i = 0; i < inDim; i++) {
          const u = x[xa + i], v = x[xb + i];
          const c0 = W[w0 + i], c1 = W[w1 + i], c2 = W[w2 + i], c3 = W[w3 + i];
          a0 += u * c0; a1 += u * c1; a2 += u * c2; a3 += u * c3;
          b0 += v * c0; b1 += v * c1; b2 += v * c2; b3 += v * c3;
        }
        y[ya + o] = b[o] + a0; y[ya + o + 1] = b[o + 1] + a1; y[ya + o + 2] = b[o + 2] + a2; y[ya + o + 3] = b[o + 3] + a3;
        y[yb + o] = b[o] + b0; y[yb + o + 1] = b[o + 1] + b1; y[yb + o + 2] = b[o + 2] + b2; y[yb + o + 3] = b[o + 3] + b3;
      }
      for (; o < outDim; o++) {
        const wo = o * inDim;
        let a = 0, c = 0;
        for (let i = 0; i < inDim; i++) {
          a += x[xa + i] * W[wo + i];
          c += x[xb + i] * W[wo + i];
        }
        y[ya + o] = b[o] + a;
        y[yb + o] = b[o] + c;
      }
    }
    for (; r < n; r++) {
      const xo = r * inDim, yo = r * outDim;
      for (let o = 0; o < outDim; o++) {
        const wo = o * inDim;
        let a = 0;
        for (let i = 0; i < inDim; i++) a += x[xo + i] * W[wo + i];
        y[yo + o] = b[o] + a;
      }
    }
  }

  // nn.LayerNorm(dim, eps=1e-6): biased variance
  function layerNorm(x, n, dim, w, b, y) {
    for (let r = 0; r < n; r++) {
      const o = r * dim;
      let mean = 0;
      for (let i = 0; i < dim; i++) mean += x[o + i];
      mean /= dim;
      let v = 0;
      for (let i = 0; i < dim; i++) {
        const d = x[o + i] - mean;
        v += d * d;
      }
      const inv = 1 / Math.sqrt(v / dim + 1e-6);
      for (let i = 0; i < dim; i++) y[o + i] = (x[o + i] - mean) * inv * w[i] + b[i];
    }
  }

  // erf as fdlibm's s_erf.c (error below 1 ulp): F.gelu's default is the exact, erf-based GELU.
  const ERX = 8.45062911510467529297e-1, EFX = 1.28379167095512586316e-1;
  const PP = [1.28379167095512558561e-1, -3.25042107247001499370e-1, -2.84817495755985104766e-2,
    -5.77027029648944159157e-3, -2.37630166566501626084e-5];
  const QQ = [1, 3.97917223959155352819e-1, 6.50222499887672944485e-2, 5.08130628187576562776e-3,
    1.32494738004321644526e-4, -3.96022827877536812320e-6];
  const PA = [-2.36211856075265944077e-3, 4.14856118683748331666e-1, -3.72207876035701323847e-1,
    3.18346619901161753674e-1, -1.10894694282396677476e-1, 3.54783043256182359371e-2,
    -2.16637559486879084300e-3];
  const QA = [1, 1.06420880400844228286e-1, 5.40397917702171048937e-1, 7.18286544141962662868e-2,
    1.26171219808761642112e-1, 1.36370839120290507362e-2, 1.19844998467991074170e-2];
  const RA = [-9.86494403484714822705e-3, -6.93858572707181764372e-1, -1.05586262253232909814e1,
    -6.23753324503260060396e1, -1.62396669462573470355e2, -1.84605092906711035994e2,
    -8.12874355063065934246e1, -9.81432934416914548592];
  const SA = [1, 1.96512716674392571292e1, 1.37657754143519042600e2, 4.34565877475229228821e2,
    6.45387271733267880336e2, 4.29008140027567833386e2, 1.08635005541779435134e2,
    6.57024977031928170135, -6.04244152148580987438e-2];
  const RB = [-9.86494292470009928597e-3, -7.99283237680523006574e-1, -1.77579549177547519889e1,
    -1.60636384855821916062e2, -6.37566443368389627722e2, -1.02509513161107724954e3,
    -4.83519191608651397019e2];
  const SB = [1, 3.03380607434824582924e1, 3.25792512996573918826e2, 1.53672958608443695994e3,
    3.19985821950859553908e3, 2.55305040643316442583e3, 4.74528541206955367215e2,
    -2.24409524465858183362e1];
  const poly = (c, z) => {
    let r = c[c.length - 1];
    for (let i = c.length - 2; i >= 0; i--) r = r * z + c[i];
    return r;
  };
  function erf(x) {
    if (Number.isNaN(x)) return x;
    const ax = Math.abs(x), sign = x < 0 ? -1 : 1;
    if (ax < 0.84375) {
      if (ax < 3.725290298461914e-9) return x + EFX * x;
      const z = x * x;
      return x + x * (poly(PP, z) / poly(QQ, z));
    }
    if (ax < 1.25) return sign * (ERX + poly(PA, ax - 1) / poly(QA, ax - 1));
    if (ax >= 6) return sign;
    const s = 1 / (ax * ax);
    const rs = ax < 1 / 0.35 ? poly(RA, s) / poly(SA, s) : poly(RB, s) / poly(SB, s);
    // fdlibm splits exp(-x*x) to gain the last bits; one exp is within a few ulp, plenty here
    return sign * (1 - Math.exp(-ax * ax - 0.5625 + rs) / ax);
  }
  const gelu = (v) => 0.5 * v * (1 + erf(v * Math.SQRT1_2));

  // A pre-norm ViT block on x (n, dim), in place: x += attn(norm1(x)); x += fc2(gelu(fc1(norm2(x))))
  function block(model, p, x, n, dim, heads, hidden) {
    const { t, scratch: S } = model;
    const hd = dim / heads, scale = hd ** -0.5;
    layerNorm(x, n, dim, t[p + "norm1.weight"], t[p + "norm1.bias"], S.h);
    linear(S.h, n, dim, t[p + "attn.qkv.weight"], t[p + "attn.qkv.bias"], 3 * dim, S.qkv);
    // Per head: scores = (q * scale) k^T and out = softmax(scores) v, both as `linear` products
    // (its blocked loop is the fast one) over contiguous copies of q, k and v^T.
    const qkv = S.qkv, a = S.h, q = S.q, k = S.k, vT = S.vT, sc = S.sc, o = S.o; // S.h: norm1 is consumed
    for (let hh = 0; hh < heads; hh++) {
      for (let j = 0; j < n; j++) {
        const base = j * 3 * dim + hh * hd;
        for (let c = 0; c < hd; c++) {
          q[j * hd + c] = qkv[base + c] * scale;
          k[j * hd + c] = qkv[base + dim + c];
          vT[c * n + j] = qkv[base + 2 * dim + c];
        }
      }
      linear(q, n, hd, k, S.zeros, n, sc); // (n, n)
      for (let i = 0; i < n; i++) {
        const r = i * n;
        let max = -Infinity;
        for (let j = 0; j < n; j++) if (sc[r + j] > max) max = sc[r + j];
        let sum = 0;
        for (let j = 0; j < n; j++) {
          const e = Math.exp(sc[r + j] - max);
          sc[r + j] = e;
          sum += e;
        }
        for (let j = 0; j < n; j++) sc[r + j] /= sum;
      }
      linear(sc, n, n, vT, S.zeros, hd, o); // (n, hd)
      for (let i = 0; i < n; i++) for (let c = 0; c < hd; c++) a[i * dim + hh * hd + c] = o[i * hd + c];
    }
    linear(a, n, dim, t[p + "attn.proj.weight"], t[p + "attn.proj.bias"], dim, S.a);
    for (let i = 0; i < n * dim; i++) x[i] += S.a[i];
    layerNorm(x, n, dim, t[p + "norm2.weight"], t[p + "norm2.bias"], S.h);
    linear(S.h, n, dim, t[p + "fc1.weight"], t[p + "fc1.bias"], hidden, S.m);
    for (let i = 0; i < n * hidden; i++) S.m[i] = gelu(S.m[i]);
    linear(S.m, n, hidden, t[p + "fc2.weight"], t[p + "fc2.bias"], dim, S.a);
    for (let i = 0; i < n * dim; i++) x[i] += S.a[i];
  }

  // ---------------------------------------------------------------- patches
  // patchify of one (H, W) greyscale image: (L, p*p), patches row-major, pixels row-major inside
  function patchify(model, img) {
    const { patch: p, grid: g, pd } = model.cfg, side = g * p;
    const out = new Float64Array(g * g * pd);
    for (let h = 0; h < g; h++)
      for (let w = 0; w < g; w++)
        for (let i = 0; i < p; i++)
          for (let j = 0; j < p; j++) out[(h * g + w) * pd + i * p + j] = img[(h * p + i) * side + w * p + j];
    return out;
  }

  // ---------------------------------------------------------------- the forward pass
  // model(imgs, mask=mask) for one image: mask (L,) 1 = hidden. Returns the prediction for every patch
  // (L, p*p) and the loss on hidden patches (forward_loss).
  function forward(model, target, mask) {
    const { cfg, t, scratch: S } = model;
    const { L, pd, D, Dd } = cfg;
    const x = S.x;
    // encode_visible: the cls token (no position), then the visible patches in patch order
    for (let d = 0; d < D; d++) x[d] = t.cls_token[d];
    let K = 0;
    const visible = [];
    for (let l = 0; l < L; l++) {
      if (mask[l] >= 0.5) continue;
      visible.push(l);
      const xo = (1 + K) * D;
      const W = t["patch_embed.weight"], b = t["patch_embed.bias"];
      for (let d = 0; d < D; d++) {
        let s = 0;
        for (let i = 0; i < pd; i++) s += target[l * pd + i] * W[d * pd + i];
        x[xo + d] = b[d] + s + t.pos_embed[l * D + d];
      }
      K++;
    }
    const n = 1 + K;
    for (let i = 0; i < cfg.depth; i++) block(model, `blocks.${i}.`, x, n, D, cfg.heads, cfg.hidden);
    layerNorm(x, n, D, t["norm.weight"], t["norm.bias"], S.h);
    // forward_decoder: visible tokens back at their patches, the mask token everywhere else
    linear(S.h, n, D, t["decoder_embed.weight"], t["decoder_embed.bias"], Dd, S.y);
    const z = S.x; // the encoder's activations are done with
    for (let d = 0; d < Dd; d++) z[d] = S.y[d];
    for (let l = 0; l < L; l++)
      for (let d = 0; d < Dd; d++) z[(1 + l) * Dd + d] = t.mask_token[d] + t.decoder_pos_embed[l * Dd + d];
    visible.forEach((l, k) => {
      for (let d = 0; d < Dd; d++) z[(1 + l) * Dd + d] = S.y[(1 + k) * Dd + d] + t.decoder_pos_embed[l * Dd + d];
    });
    const N = 1 + L;
    for (let i = 0; i < cfg.ddepth; i++) block(model, `decoder_blocks.${i}.`, z, N, Dd, cfg.dheads, cfg.dhidden);
    layerNorm(z, N, Dd, t["decoder_norm.weight"], t["decoder_norm.bias"], S.h);
    linear(S.h, N, Dd, t["decoder_pred.weight"], t["decoder_pred.bias"], pd, S.out);
    const pred = S.out.slice(pd); // cls dropped
    // forward_loss: per-patch MSE against the (optionally normalised) target, over hidden patches
    let num = 0, den = 0;
    for (let l = 0; l < L; l++) {
      const [mean, std] = cfg.normPix ? patchStats(target, l, pd) : [0, 1];
      let e = 0;
      for (let i = 0; i < pd; i++) {
        const d = pred[l * pd + i] - (target[l * pd + i] - mean) / std;
        e += d * d;
      }
      num += (e / pd) * mask[l];
      den += mask[l];
    }
    return { pred, loss: num / Math.max(den, 1) };
  }

  // mean and sqrt(unbiased variance + 1e-6) of one patch (norm_pix_loss's normalisation)
  function patchStats(target, l, pd) {
    let mean = 0;
    for (let i = 0; i < pd; i++) mean += target[l * pd + i];
    mean /= pd;
    let v = 0;
    for (let i = 0; i < pd; i++) v += (target[l * pd + i] - mean) ** 2;
    return [mean, Math.sqrt(v / (pd - 1) + 1e-6)];
  }

  // inference.reconstruct for one image (H*W values) under mask (L,): float32 outputs, as torch's
  function reconstruct(model, img, mask) {
    const { cfg } = model;
    const { L, pd, patch: p, grid: g } = cfg, side = g * p;
    const target = patchify(model, img);
    const { pred, loss } = forward(model, target, mask);
    const recon = new Float32Array(side * side), pasted = new Float32Array(side * side);
    const hiddenPx = new Uint8Array(side * side), patchError = new Float32Array(L);
    for (let l = 0; l < L; l++) {
      const [mean, std] = cfg.normPix ? patchStats(target, l, pd) : [0, 1];
      let e = 0;
      for (let i = 0; i < pd; i++) {
        const v = pred[l * pd + i] * std + mean; // undo norm_pix_loss with the true patch statistics
        const px = (Math.floor(l / g) * p + Math.floor(i / p)) * side + (l % g) * p + (i % p);
        recon[px] = v;
        hiddenPx[px] = mask[l] >= 0.5 ? 1 : 0;
        pasted[px] = hiddenPx[px] ? recon[px] : img[px];
        e += (v - target[l * pd + i]) ** 2;
      }
      patchError[l] = e / pd;
    }
    return { recon, pasted, hiddenPx, patchError, loss: Math.fround(loss) };
  }

  // ---------------------------------------------------------------- random masks, as torch draws them
  // torch.Generator().manual_seed(seed) on the CPU is a 32-bit Mersenne Twister (mt19937); torch.rand
  // gives float32 values (random() & (2**24 - 1)) * 2**-24, row by row.
  class MT19937 {
    constructor(seed) {
      const mt = (this.mt = new Uint32Array(624));
      mt[0] = seed >>> 0;
      for (let i = 1; i < 624; i++) mt[i] = (Math.imul(1812433253, mt[i - 1] ^ (mt[i - 1] >>> 30)) + i) >>> 0;
      this.i = 624;
    }
    next() {
      const mt = this.mt;
      if (this.i >= 624) {
        for (let k = 0; k < 624; k++) {
          const y = (mt[k] & 0x80000000) | (mt[(k + 1) % 624] & 0x7fffffff);
          mt[k] = (mt[(k + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0)) >>> 0;
        }
        this.i = 0;
      }
      let y = mt[this.i++];
      y ^= y >>> 11;
      y ^= (y << 7) & 0x9d2c5680;
      y ^= (y << 15) & 0xefc60000;
      y ^= y >>> 18;
      return y >>> 0;
    }
    uniform() {
      return (this.next() & 0xffffff) * 5.9604644775390625e-8;
    }
  }

  // model.random_patch_mask(count, L, ratio, Generator().manual_seed(seed)): count masks (L,), 1 = hidden,
  // each keeping the int(L * (1 - ratio)) patches of lowest noise. Equal noise values (one row in ~10**4
  // has a tie) are ordered by patch index; torch's unstable argsort may order them otherwise, which
  // matters only when the tie straddles the cut.
  function randomMasks(seed, count, L, ratio) {
    const gen = new MT19937(seed);
    const keep = Math.trunc(L * (1 - ratio));
    const out = [];
    for (let r = 0; r < count; r++) {
      const noise = new Float64Array(L);
      for (let l = 0; l < L; l++) noise[l] = gen.uniform();
      const order = [...Array(L).keys()].sort((a, b) => noise[a] - noise[b] || a - b);
      const mask = new Uint8Array(L).fill(1);
      for (let k = 0; k < keep; k++) mask[order[k]] = 0;
      out.push(mask);
    }
    return out;
  }

  // explore.uncertainty_map: the standard deviation (unbiased) over k random masks of
  // "reconstruction + visible" clamped to [0, 1]. A generator: one mask per step, so the page can
  // draw between steps and drop the work when the visitor edits again.
  function* uncertainty(model, img, seed, k, ratio) {
    const side = model.cfg.imageSize;
    const sum = new Float64Array(side * side);
    const runs = [];
    for (const mask of randomMasks(seed, k, model.cfg.L, ratio)) {
      const { pasted } = reconstruct(model, img, mask);
      runs.push(pasted);
      for (let i = 0; i < pasted.length; i++) sum[i] += Math.min(Math.max(pasted[i], 0), 1);
      yield null;
    }
    const out = new Float32Array(side * side);
    for (let i = 0; i < out.length; i++) {
      const mean = sum[i] / k;
      let v = 0;
      for (const r of runs) v += (Math.min(Math.max(r[i], 0), 1) - mean) ** 2;
      out[i] = Math.sqrt(v / (k - 1));
    }
    return out;
  }

  // ---------------------------------------------------------------- hallucination and the verdict
  // hallucination.score_reconstructions for one image (truth and counterfactual are {0, 1} pictures) and
  // its label. The rule and its constants live in Python (``rule`` carries them); keep these two
  // functions in step with toymae/eval/hallucination.py: the browser test compares the verdicts on
  // every shipped model.
  function score(truth, counter, recon, hiddenPx, rule) {
    let nDisc = 0, nConf = 0, nFlip = 0;
    for (let i = 0; i < truth.length; i++) {
      if (!hiddenPx[i] || truth[i] === counter[i]) continue;
      nDisc++;
      const r = recon[i]; // float32 values: these differences are exact in float64 and in float32 alike
      if (!(Math.abs(r - 0.5) >= rule.confidence_band)) continue;
      nConf++;
      if (Math.abs(r - counter[i]) < Math.abs(r - truth[i])) nFlip++;
    }
    const decidable = nDisc >= rule.min_pixels;
    const sure = decidable && nConf >= rule.min_pixels && nConf >= rule.min_confident_share * nDisc;
    const s = decidable && nConf > 0 ? Math.fround(nFlip / nConf) : null;
    const filled = s === null ? rule.threshold : s;
    return {
      nDisc, nConf, nFlip, decidable, score: s,
      hallucinated: sure && filled > rule.threshold, faithful: sure && filled < rule.threshold,
    };
  }

  // hallucination.image_verdict (NO_TRUE_SHAPE when the picture has no true shape)
  function verdict(sc, trueShape, rule) {
    if (trueShape === null) return { label: "undecidable", score: null, reason: rule.no_true_shape };
    const n = sc.nDisc;
    if (!sc.decidable) {
      return {
        label: "undecidable", score: null,
        reason: `only ${n} hidden pixels where a circle and a square differ; ` +
          `at least ${rule.min_pixels} are needed to tell`,
      };
    }
    const label = sc.hallucinated ? "hallucinated" : sc.faithful ? "faithful" : "uncertain";
    const other = trueShape === "square" ? "round" : "square";
    const score = sc.nConf === 0 ? null : sc.score;
    const hedges = label === "uncertain" && (sc.nConf < rule.min_pixels || sc.nConf < rule.min_confident_share * n);
    const reason = hedges
      ? `only ${sc.nConf} of ${n} hidden corner pixels drawn clearly (the rest grey): the decoder hedges`
      : `${sc.nFlip} of ${sc.nConf} clearly drawn hidden corner pixels drawn ${other} (${n} hidden in all)`;
    return { label, score, reason };
  }

  // ---------------------------------------------------------------- masks as text and presets
  // masks.to_text / from_text: the row-major bits, most significant bit first, as hex
  function toHex(cells) {
    let s = "";
    for (let i = 0; i < cells.length; i += 8) {
      let byte = 0;
      for (let b = 0; b < 8; b++) byte |= (i + b < cells.length && cells[i + b] ? 1 : 0) << (7 - b);
      s += byte.toString(16).padStart(2, "0");
    }
    return s;
  }
  function fromHex(text, n) {
    if (typeof text !== "string" || text.length !== 2 * Math.ceil(n / 8) || /[^0-9a-f]/i.test(text)) return null;
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = (parseInt(text.substr(2 * (i >> 3), 2), 16) >> (7 - (i & 7))) & 1;
    return out;
  }

  const roundHalfEven = (x) => {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r; // Python's round()
  };

  // masks.preset_mask, for the presets that do not draw random numbers
  function preset(name, g, current, ratio) {
    const m = new Uint8Array(g * g), half = Math.floor(g / 2);
    const set = (f) => {
      for (let r = 0; r < g; r++) for (let c = 0; c < g; c++) m[r * g + c] = f(r, c) ? 1 : 0;
    };
    if (name === "block") {
      const side = Math.max(1, roundHalfEven(g * ratio ** 0.5)), s0 = Math.floor((g - side) / 2);
      set((r, c) => r >= s0 && r < s0 + side && c >= s0 && c < s0 + side);
    } else if (name === "left half") set((r, c) => c < half);
    else if (name === "right half") set((r, c) => c >= half);
    else if (name === "top half") set((r) => r < half);
    else if (name === "bottom half") set((r) => r >= half);
    else if (name === "invert") for (let i = 0; i < m.length; i++) m[i] = current[i] ? 0 : 1;
    else if (name !== "clear") throw new Error(`unknown preset ${name}`);
    return m;
  }

  return { decodeModel, reconstruct, randomMasks, uncertainty, score, verdict, toHex, fromHex, preset, erf, MT19937 };
})();
