/* quba interactive report.
 *
 * Recomputes, in the browser, exactly what quba.ranking computes in Python:
 *   QUBA(m) = sum_d w_d s_d (x_{m,d} - mu_d) / sigma_d / sum_d w_d
 * (Hesse et al., "Beyond Accuracy", Sec. 4; quba/ranking/score.py), with the
 * reference mu/sigma computed by Python for each suite (so filters never move the
 * scale), the presets and "prefer" of quba/ranking/weights.py and
 * recommendation.py, the filters of score.Filters, the ranks of score.rank
 * (scores rounded to 12 decimals, ties share the lowest rank and are listed by
 * name), Spearman rho and p-values as scipy.stats.spearmanr (correlation.py) and
 * the CSV of `quba rank --format csv` (render.ranking_csv).
 *
 * The whole view lives in the URL hash (see STATE_KEYS). window.quba exposes
 * the state and the computed view for scripts and tests.
 */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("quba-data").textContent);
  var DIMS = DATA.dimensions;
  var METADATA = ["architecture", "paradigm", "pretraining_data"];
  var STATE_KEYS = ["suite", "preset", "weights", "prefer", "renormalise", "exclude_missing", "architecture",
    "paradigm", "pretraining_data", "max_params", "name", "x", "y", "sel", "sort", "oriented"];
  var MAX_SELECTED = 3;
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf"];
  var SYMBOLS = ["circle", "square", "diamond", "triangle-up", "cross", "x", "triangle-down", "pentagon",
    "hexagon", "star"];
  var SHORT = {
    accuracy: "acc", adversarial_robustness: "adv", corruption_robustness: "corr", ood_robustness: "ood",
    calibration_error: "calib", class_balance: "balance", object_focus: "focus", shape_bias: "shape",
    parameters_m: "params"
  };

  function $(id) { return document.getElementById(id); }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // ------------------------------------------------------------------ numbers
  /** Python's repr(float) for a JS number (shortest round-trip digits, Python's layout). */
  function pyRepr(x) {
    if (x !== x) return "nan";
    if (x === Infinity) return "inf";
    if (x === -Infinity) return "-inf";
    if (x === 0) return (1 / x < 0) ? "-0.0" : "0.0";
    var sign = x < 0 ? "-" : "";
    var m = Math.abs(x).toExponential().match(/^(\d)(?:\.(\d+))?e([+-]\d+)$/);
    var digits = m[1] + (m[2] || "");
    var exp = parseInt(m[3], 10);
    var decpt = exp + 1;  // value = 0.digits * 10^decpt
    if (decpt <= -4 || decpt > 16) {
      var mant = digits.length > 1 ? digits[0] + "." + digits.slice(1) : digits;
      var e = Math.abs(exp);
      return sign + mant + "e" + (exp < 0 ? "-" : "+") + (e < 10 ? "0" + e : String(e));
    }
    var s;
    if (decpt <= 0) s = "0." + "0".repeat(-decpt) + digits;
    else if (decpt >= digits.length) s = digits + "0".repeat(decpt - digits.length) + ".0";
    else s = digits.slice(0, decpt) + "." + digits.slice(decpt);
    return sign + s;
  }

  /** numpy's sum of a contiguous 1-D float vector (pairwise_sum: 8 partial sums from 8 terms on): quba_scores'
   * `W.sum()`. Its per-row sums (`.sum(axis=1)` over pandas' column-major arrays) run left to right: seqSum.
   * Both together make the page's scores bit-identical to quba.ranking's, not just close. */
  function npSum(a) {
    var n = a.length, i, res;
    if (n < 8) {
      res = 0.0;
      for (i = 0; i < n; i++) res += a[i];
      return res;
    }
    var r = a.slice(0, 8);
    for (i = 8; i < n - (n % 8); i += 8) for (var j = 0; j < 8; j++) r[j] += a[i + j];
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[i];
    return res;
  }

  function seqSum(a) {
    var res = 0.0;
    for (var i = 0; i < a.length; i++) res += a[i];
    return res;
  }

  /** numpy.rint: round half to even. */
  function rint(y) {
    var f = Math.floor(y);
    var d = y - f;
    if (d > 0.5) return f + 1;
    if (d < 0.5) return f;
    return (f % 2 === 0) ? f : f + 1;
  }

  /** pandas Series.round(12) (numpy: rint(x * 1e12) / 1e12). */
  function round12(x) { return rint(x * 1e12) / 1e12; }

  function hasCI(b, i) { return !!b && b.lo[i] !== null && b.hi[i] !== null; }

  function finite(x) { return typeof x === "number" && isFinite(x); }

  /** render.fmt_value */
  function fmtValue(dim, x) {
    if (!finite(x)) return "-";
    if (dim === "parameters_m" || Math.abs(x) >= 100) return x.toFixed(1);
    return x.toFixed(4);
  }

  function fmtSigned(x, n) { return (x >= 0 ? "+" : "") + x.toFixed(n); }

  function shortName(d) { return SHORT[d] || (d.length <= 12 ? d : d.slice(0, 11) + "~"); }

  function title(d) { return d === "quba" ? "QUBA" : (DIMS[d] ? DIMS[d].title : d); }

  function arrow(d) { return DIMS[d] ? (DIMS[d].higher_is_better ? " \u2191" : " \u2193") : ""; }

  function hib(d) { return DIMS[d].higher_is_better; }

  // ------------------------------------------------------------------ dimensions and weights
  var ALIAS = {};
  Object.keys(DIMS).forEach(function (d) {
    ALIAS[d.toLowerCase()] = d;
    DIMS[d].aliases.forEach(function (a) { ALIAS[a.toLowerCase()] = d; });
  });

  function canonical(name) {
    var d = ALIAS[String(name).trim().toLowerCase()];
    if (!d) throw new Error("unknown dimension '" + name + "'");
    return d;
  }

  /** weights.parse_number: decimals or fractions such as 1/3. */
  function parseNumber(text, what) {
    var t = String(text).trim();
    var v;
    var num = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
    if (t.indexOf("/") >= 0) {
      var p = t.split("/");
      if (p.length !== 2 || !num.test(p[0].trim()) || !num.test(p[1].trim())) v = NaN;
      else v = parseFloat(p[0]) / parseFloat(p[1]);
    } else {
      v = num.test(t) ? parseFloat(t) : NaN;
    }
    if (!finite(v)) throw new Error(what + ": '" + text + "' is not a finite number");
    return v;
  }

  function getPreset(name) {
    var key = String(name).trim().toLowerCase().replace(/_/g, "-");
    if (!DATA.presets[key]) {
      throw new Error("unknown preset '" + name + "'; known: " + Object.keys(DATA.presets).join(", "));
    }
    return key;
  }

  /** weights.resolve_weights, then recommendation.apply_prefer: an ordered Map dim -> weight. */
  function effectiveWeights(st) {
    var base = new Map();
    var preset = st.preset;
    if (preset === null && st.weights.size === 0) preset = DATA.default_preset;
    if (preset !== null) {
      var pw = DATA.presets[preset].weights;
      Object.keys(pw).forEach(function (d) { base.set(d, pw[d]); });
    }
    st.weights.forEach(function (w, d) { base.set(d, w); });
    var changed = new Map();
    st.prefer.forEach(function (w, d) {
      var v = w;
      if (v === null) {
        var b = base.has(d) ? base.get(d) : 0;
        v = b > 0 ? DATA.prefer_factor * b : 1.0;
      }
      changed.set(d, v);
    });
    changed.forEach(function (w, d) { base.set(d, w); });
    return { weights: base, explicit: new Set(Array.from(st.weights.keys()).concat(Array.from(changed.keys()))) };
  }

  // ------------------------------------------------------------------ state <-> hash
  function defaultState() {
    return {
      suite: DATA.default_suite, preset: null, weights: new Map(), prefer: new Map(), renormalise: false,
      exclude_missing: false, architecture: [], paradigm: [], pretraining_data: [], max_params: null, name: [],
      x: null, y: null, sel: [], sort: null, oriented: false
    };
  }

  function cloneState(st) {
    var c = Object.assign({}, st);
    c.weights = new Map(st.weights);
    c.prefer = new Map(st.prefer);
    METADATA.concat(["name", "sel"]).forEach(function (k) { c[k] = st[k].slice(); });
    return c;
  }

  function list(v) { return v.split(",").map(function (s) { return decodeURIComponent(s); }).filter(function (s) { return s.trim() !== ""; }); }

  function parseBool(v, key, notes) {
    if (/^(1|true|yes|on)$/i.test(v)) return true;
    if (/^(0|false|no|off)$/i.test(v)) return false;
    notes.push("'" + key + "=" + v + "' is not 1 or 0; ignored");
    return false;
  }

  function parseWeightList(v, key, notes, bare) {
    var out = new Map();
    list(v).forEach(function (part) {
      var m = part.split(/[:=]/);
      try {
        var d = canonical(m[0]);
        if (out.has(d)) throw new Error("dimension " + d + " is given twice");
        var w;
        if (m.length === 1) w = bare;
        else {
          w = parseNumber(m.slice(1).join(":"), "weight of " + m[0]);
          if (w < 0) throw new Error("weight of " + d + " is negative");
        }
        out.set(d, w);
      } catch (e) {
        notes.push("'" + key + "' entry '" + part + "': " + e.message + "; ignored");
      }
    });
    return out;
  }

  function parseHash(hash) {
    var st = defaultState();
    var notes = [];
    var text = hash.replace(/^#/, "");
    if (!text) return { state: st, notes: notes };
    text.split("&").forEach(function (item) {
      if (!item) return;
      var i = item.indexOf("=");
      var key = i < 0 ? item : item.slice(0, i);
      var v = i < 0 ? "" : item.slice(i + 1);
      var dkey;
      try { dkey = decodeURIComponent(key); v.split(",").forEach(function (s) { decodeURIComponent(s); }); } catch (e) {
        notes.push("could not decode '" + item + "'; ignored");
        return;
      }
      if (STATE_KEYS.indexOf(dkey) < 0) {
        notes.push("unknown setting '" + dkey + "' in the link; ignored (known: " + STATE_KEYS.join(", ") + ")");
        return;
      }
      var one = list(v).join(",");
      switch (dkey) {
        case "suite":
          if (DATA.suites[one.toLowerCase()]) st.suite = one.toLowerCase();
          else notes.push("no suite '" + one + "' in this report (it has: " + Object.keys(DATA.suites).join(", ") + "); ignored");
          break;
        case "preset":
          try { st.preset = getPreset(one); } catch (e) { notes.push(e.message + "; ignored"); }
          break;
        case "weights": st.weights = parseWeightList(v, "weights", notes, 1.0); break;
        case "prefer": st.prefer = parseWeightList(v, "prefer", notes, null); break;
        case "renormalise": case "exclude_missing": case "oriented": st[dkey] = parseBool(one, dkey, notes); break;
        case "architecture": case "paradigm": case "pretraining_data": case "name": case "sel":
          st[dkey] = list(v); break;
        case "max_params":
          var p = Number(one);
          if (one.trim() !== "" && finite(p) && p > 0) st.max_params = p;
          else notes.push("max_params '" + one + "' is not a positive number of millions; ignored");
          break;
        case "x": case "y":
          if (one.toLowerCase() === "quba") st[dkey] = "quba";
          else {
            try { st[dkey] = canonical(one); } catch (e) { notes.push(dkey + " axis: " + e.message + "; ignored"); }
          }
          break;
        case "sort":
          var desc = one.charAt(0) === "-";
          var col = desc ? one.slice(1) : one;
          if (col === "rank" || col === "model" || col === "quba") st.sort = { col: col, desc: desc };
          else {
            try { st.sort = { col: canonical(col), desc: desc }; } catch (e) { notes.push("sort: " + e.message + "; ignored"); }
          }
          break;
      }
    });
    return { state: st, notes: notes };
  }

  function encList(a) { return a.map(encodeURIComponent).join(","); }

  function encWeights(m) {
    var out = [];
    m.forEach(function (w, d) { out.push(encodeURIComponent(d) + (w === null ? "" : ":" + String(w))); });
    return out.join(",");
  }

  function stateToHash(st) {
    var p = [];
    if (Object.keys(DATA.suites).length > 1 && st.suite !== DATA.default_suite) p.push("suite=" + encodeURIComponent(st.suite));
    if (st.preset !== null) p.push("preset=" + encodeURIComponent(st.preset));
    if (st.weights.size) p.push("weights=" + encWeights(st.weights));
    if (st.prefer.size) p.push("prefer=" + encWeights(st.prefer));
    if (st.renormalise) p.push("renormalise=1");
    if (st.exclude_missing) p.push("exclude_missing=1");
    METADATA.forEach(function (k) { if (st[k].length) p.push(k + "=" + encList(st[k])); });
    if (st.max_params !== null) p.push("max_params=" + String(st.max_params));
    if (st.name.length) p.push("name=" + encList(st.name));
    if (st.x) p.push("x=" + st.x);
    if (st.y) p.push("y=" + st.y);
    if (st.sel.length) p.push("sel=" + encList(st.sel));
    if (st.sort) p.push("sort=" + (st.sort.desc ? "-" : "") + st.sort.col);
    if (st.oriented) p.push("oriented=1");
    return p.join("&");
  }

  // ------------------------------------------------------------------ filters (score.Filters)
  /** score.match_values: exact (case-insensitive), else prefix, else substring. */
  function matchValues(query, values) {
    var q = query.trim().toLowerCase();
    var tests = [function (s) { return s === q; }, function (s) { return s.indexOf(q) === 0; },
      function (s) { return s.indexOf(q) >= 0; }];
    for (var t = 0; t < tests.length; t++) {
      var hits = values.filter(function (v) { return tests[t](v.toLowerCase()); });
      if (hits.length) return hits;
    }
    return [];
  }

  /** fnmatch.translate (shell glob, whole string). */
  function globRegex(g) {
    var i = 0, n = g.length, res = "";
    while (i < n) {
      var c = g[i++];
      if (c === "*") { res += ".*"; while (g[i] === "*") i++; }
      else if (c === "?") res += ".";
      else if (c === "[") {
        var j = i;
        if (j < n && g[j] === "!") j++;
        if (j < n && g[j] === "]") j++;
        while (j < n && g[j] !== "]") j++;
        if (j >= n) res += "\\[";
        else {
          var stuff = g.slice(i, j).replace(/\\/g, "\\\\");
          i = j + 1;
          if (stuff[0] === "!") stuff = "^" + stuff.slice(1);
          else if (stuff[0] === "^") stuff = "\\" + stuff;
          res += "[" + stuff + "]";
        }
      } else res += c.replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&");
    }
    return new RegExp("^(?:" + res + ")$", "s");
  }

  function uniqueSorted(S, col) {
    var seen = new Set();
    S.rows[col].forEach(function (v) { if (v !== null) seen.add(v); });
    return Array.from(seen).sort(cmpStr);
  }

  function cmpStr(a, b) { return a < b ? -1 : a > b ? 1 : 0; }

  /** score.Filters.apply: indices of the rows passing every filter (notes for filters that match nothing). */
  function applyFilters(S, st, notes, withMissing) {
    var n = S.n, keep = [];
    var i;
    for (i = 0; i < n; i++) keep.push(true);
    if (st.max_params !== null) {
      if (!S.has_params_column) notes.push("max parameters needs a parameters_m column, which this leaderboard lacks; ignored");
      else {
        var p = S.values.parameters_m;
        for (i = 0; i < n; i++) if (p[i] !== null && !(p[i] <= st.max_params)) keep[i] = false;
      }
    }
    METADATA.forEach(function (f) {
      var queries = st[f];
      if (!queries.length) return;
      if (S.metadata.indexOf(f) < 0) {
        notes.push("the " + f.replace(/_/g, " ") + " filter needs a " + f + " column, which this leaderboard lacks; ignored");
        return;
      }
      var values = uniqueSorted(S, f);
      var chosen = new Set();
      var any = false;
      queries.forEach(function (q) {
        var hits = matchValues(q, values);
        if (!hits.length) notes.push("no " + f.replace(/_/g, " ") + " matches '" + q + "'; values: " + values.join(", ") + "; ignored");
        else { any = true; hits.forEach(function (h) { chosen.add(h); }); }
      });
      if (!any) return;
      var col = S.rows[f];
      for (i = 0; i < n; i++) if (!chosen.has(col[i] === null ? "nan" : col[i])) keep[i] = false;
    });
    if (st.name.length) {
      var res = st.name.map(function (g) { return globRegex(g.toLowerCase()); });
      for (i = 0; i < n; i++) {
        var nm = S.rows.model[i].toLowerCase();
        if (!res.some(function (r) { return r.test(nm); })) keep[i] = false;
      }
    }
    if (withMissing && st.exclude_missing) {
      for (i = 0; i < n; i++) {
        for (var k = 0; k < S.dims.length; k++) if (S.values[S.dims[k]][i] === null) { keep[i] = false; break; }
      }
    }
    var out = [];
    for (i = 0; i < n; i++) if (keep[i]) out.push(i);
    return out;
  }

  // ------------------------------------------------------------------ scoring (score.oriented_z, quba_scores, rank)
  function zOf(S, d, i) {
    var x = S.values[d][i];
    var mu = S.reference.mean[d], sigma = S.reference.std[d];
    if (x === null || !(finite(sigma) && sigma > 0 && finite(mu))) return NaN;
    var sign = hib(d) ? 1.0 : -1.0;
    return sign * (x - mu) / sigma;
  }

  function compute(st) {
    var S = DATA.suites[st.suite];
    var notes = [];
    var eff = effectiveWeights(st);
    var w = [];  // [dim, weight] with weight > 0, in the order of the weight map
    eff.weights.forEach(function (v, d) {
      if (!(v > 0)) return;
      if (S.dims.indexOf(d) < 0) {
        if (eff.explicit.has(d)) notes.push("dimension " + d + " is weighted but the leaderboard has no values for it; its weight is ignored");
        else notes.push(d + " is not in the leaderboard; its preset weight is dropped");
        return;
      }
      var s = S.reference.std[d];
      if (!(finite(s) && s > 0)) {
        notes.push("dimension " + d + (s === 0 ? " has no spread" : " has fewer than 2 values") +
          " in the reference population, so it cannot be z-normalised; its weight is ignored");
        return;
      }
      w.push([d, v]);
    });
    if (!w.length) {
      notes.push("none of the weighted dimensions can be scored; using the " + DATA.default_preset + " preset instead");
      var fallback = DATA.presets[DATA.default_preset].weights;
      Object.keys(fallback).forEach(function (d) {
        if (fallback[d] > 0 && S.dims.indexOf(d) >= 0 && S.reference.std[d] > 0) w.push([d, fallback[d]]);
      });
    }
    var cand = applyFilters(S, st, notes, true);
    var view = { suite: st.suite, weights: w, candidates: cand, ranked: [], excluded: [], notes: notes, S: S };
    if (!cand.length) {
      notes.push("no model is left after the filters out of " + S.n + "; relax them");
      return view;
    }
    var W = w.map(function (t) { return t[1]; });
    var Wmax = Math.max.apply(null, W);  // quba_scores: W / W.max() first (huge weights would overflow)
    W = W.map(function (x) { return x / Wmax; });
    var Wsum = npSum(W);
    var ranked = [];
    cand.forEach(function (i) {
      var zs = w.map(function (t) { return zOf(S, t[0], i); });
      var present = zs.map(finite);
      var denom = st.renormalise ? seqSum(W.map(function (x, k) { return present[k] ? x : 0.0; })) : Wsum;
      var cs = [];
      var contrib = {};
      for (var k = 0; k < W.length; k++) {
        var c = (present[k] ? zs[k] * W[k] : 0.0) / denom;
        contrib[w[k][0]] = present[k] ? c : NaN;
        cs.push(c);
      }
      var q = seqSum(cs);
      var missing = w.filter(function (t, k) { return !present[k]; }).map(function (t) { return t[0]; });
      var ok = missing.length === 0 || (st.renormalise && missing.length < w.length);
      var reason = "";
      if (!ok) {
        reason = "missing " + missing.join(", ");
        if (w.length > 1 && missing.length === w.length) reason = "missing all " + w.length + " weighted dimensions";
      } else if (st.max_params !== null && S.has_params_column && S.values.parameters_m[i] === null) {
        reason = "parameter count unknown (needed by --max-params)";
      }
      if (reason) view.excluded.push({ i: i, model: S.rows.model[i], leaderboard: S.rows.leaderboard[i], reason: reason });
      else ranked.push({ i: i, model: S.rows.model[i], quba: q, key: round12(q), renormalised: missing.length > 0, contrib: contrib });
    });
    // Scores equal up to rounding noise (1e-12) share a rank and are listed by name (stable otherwise).
    ranked.sort(function (a, b) { return b.key - a.key || cmpStr(a.model, b.model); });
    ranked.forEach(function (r, k) { r.rank = (k > 0 && r.key === ranked[k - 1].key) ? ranked[k - 1].rank : k + 1; });
    view.ranked = ranked;
    if (!ranked.length) notes.push("no model can be ranked: all " + cand.length + " candidates miss a weighted dimension; tick Renormalise or change the weights");
    return view;
  }

  // ------------------------------------------------------------------ Spearman (correlation.spearman_pairs)
  function averageRanks(x) {
    var idx = x.map(function (v, i) { return i; }).sort(function (a, b) { return x[a] - x[b]; });
    var r = new Array(x.length);
    for (var i = 0; i < idx.length;) {
      var j = i;
      while (j + 1 < idx.length && x[idx[j + 1]] === x[idx[i]]) j++;
      var avg = (i + j) / 2 + 1;
      for (var k = i; k <= j; k++) r[idx[k]] = avg;
      i = j + 1;
    }
    return r;
  }

  function pearson(a, b) {
    var n = a.length, ma = 0, mb = 0, i;
    for (i = 0; i < n; i++) { ma += a[i]; mb += b[i]; }
    ma /= n; mb /= n;
    var sab = 0, saa = 0, sbb = 0;
    for (i = 0; i < n; i++) { var da = a[i] - ma, db = b[i] - mb; sab += da * db; saa += da * da; sbb += db * db; }
    var r = sab / Math.sqrt(saa * sbb);
    return Math.max(-1, Math.min(1, r));
  }

  function logGamma(x) {  // Lanczos (g = 7, n = 9)
    var c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
      -176.61503916999185, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
      1.5056327351493116e-7];
    if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
    x -= 1;
    var a = c[0], t = x + 7.5;
    for (var i = 1; i < 9; i++) a += c[i] / (x + i);
    return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
  }

  function betacf(a, b, x) {  // continued fraction of the incomplete beta (modified Lentz)
    var TINY = 1e-300, qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap;
    if (Math.abs(d) < TINY) d = TINY;
    d = 1 / d;
    var h = d;
    for (var m = 1; m <= 10000; m++) {
      var m2 = 2 * m, aa = m * (b - m) * x / ((qam + m2) * (a + m2));
      d = 1 + aa * d; if (Math.abs(d) < TINY) d = TINY;
      c = 1 + aa / c; if (Math.abs(c) < TINY) c = TINY;
      d = 1 / d; h *= d * c;
      aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
      d = 1 + aa * d; if (Math.abs(d) < TINY) d = TINY;
      c = 1 + aa / c; if (Math.abs(c) < TINY) c = TINY;
      d = 1 / d;
      var del = d * c;
      h *= del;
      if (Math.abs(del - 1) < 1e-16) break;
    }
    return h;
  }

  function betainc(a, b, x) {  // regularised incomplete beta I_x(a, b)
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    var lbt = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
    if (x < (a + 1) / (a + b + 2)) return Math.exp(lbt) * betacf(a, b, x) / a;
    return 1 - Math.exp(lbt) * betacf(b, a, 1 - x) / b;
  }

  /** scipy.stats.spearmanr's two-sided p-value: Student t with n - 2 degrees of freedom. */
  function spearmanP(rho, n) {
    var dof = n - 2;
    var t = rho * Math.sqrt(Math.max(0, dof / ((rho + 1) * (1 - rho))));
    if (!isFinite(t)) return 0;
    return betainc(dof / 2, 0.5, dof / (dof + t * t));
  }

  function spearmanPairs(S, rows, dims, oriented) {
    var out = [];
    for (var a = 0; a < dims.length; a++) {
      for (var b = a + 1; b < dims.length; b++) {
        var xa = [], xb = [];
        var sa = oriented && !hib(dims[a]) ? -1 : 1, sb = oriented && !hib(dims[b]) ? -1 : 1;
        rows.forEach(function (i) {
          var u = S.values[dims[a]][i], v = S.values[dims[b]][i];
          if (u !== null && v !== null) { xa.push(sa * u); xb.push(sb * v); }
        });
        var n = xa.length, rho = NaN, p = NaN;
        var spread = function (x) { return Math.max.apply(null, x) - Math.min.apply(null, x) > 0; };
        if (n >= 3 && spread(xa) && spread(xb)) {
          rho = pearson(averageRanks(xa), averageRanks(xb));
          p = spearmanP(rho, n);
        }
        out.push({ dim_a: dims[a], dim_b: dims[b], rho: rho, p_value: p, n: n });
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ CSV (render.ranking_csv)
  function csvField(s) {
    s = String(s);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  function csvNum(x) { return finite(x) ? pyRepr(x) : ""; }

  // A text cell a spreadsheet would run as a formula gets a leading ' (quba/csvsafe.py: escape_text).
  var FORMULA_START = /^[=+\-@\t\r]/, PLAIN_NUMBER = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/;
  function csvText(s) {
    s = String(s);
    var rest = s.replace(/^'+/, "");
    if (FORMULA_START.test(rest) && (rest !== s || !PLAIN_NUMBER.test(s))) s = "'" + s;
    return csvField(s);
  }

  function rankingCsv(view) {
    var S = view.S;
    var head = ["rank", "model", "quba"];
    S.dims.forEach(function (d) { head.push(d, d + "_z"); });
    head.push("renormalised", "leaderboard");
    var lines = [head.map(csvField).join(",")];
    view.ranked.forEach(function (r) {
      var f = [String(r.rank), csvText(r.model), csvNum(r.quba)];
      S.dims.forEach(function (d) { f.push(csvNum(S.values[d][r.i]), csvNum(zOf(S, d, r.i))); });
      f.push(r.renormalised ? "True" : "False", csvText(S.rows.leaderboard[r.i]));
      lines.push(f.join(","));
    });
    return lines.join("\n") + "\n";
  }

  // ------------------------------------------------------------------ page state
  var state = defaultState();
  var hashNotes = [];
  var view = null;
  // Plotly's 5 MB are parsed after this script (see report.html): the table comes first, the plots when
  // plotlyReady() runs. plotlyChecked: whether that has happened (so a missing Plotly is reported).
  var plotly = typeof window.Plotly !== "undefined" ? window.Plotly : null;
  var plotlyChecked = false;

  function rowKey(S, i) {
    var m = S.rows.model[i];
    var dup = S._dup || (S._dup = (function () {
      var c = {};
      S.rows.model.forEach(function (x) { c[x] = (c[x] || 0) + 1; });
      return c;
    })());
    return dup[m] > 1 ? m + " (" + S.rows.leaderboard[i] + ")" : m;
  }

  function isUser(S, i) { return S.rows.user[i]; }

  function findRow(S, key) {
    for (var i = 0; i < S.n; i++) if (rowKey(S, i) === key) return i;
    return -1;
  }

  function setState(st, push) {
    state = st;
    var h = stateToHash(st);
    var url = location.href.replace(/#.*$/, "") + (h ? "#" + h : "");
    if (push !== false) {
      try { history.replaceState(null, "", url); } catch (e) { /* file:// in some browsers */ }
    }
    render();
  }

  function update(fn) {
    var st = cloneState(state);
    fn(st);
    setState(st);
  }

  // ------------------------------------------------------------------ controls
  function option(value, label, selected) {
    return '<option value="' + esc(value) + '"' + (selected ? " selected" : "") + ">" + esc(label) + "</option>";
  }

  function renderControls(S, eff) {
    var suites = Object.keys(DATA.suites);
    $("suite-row").hidden = suites.length < 2;
    $("suite").innerHTML = suites.map(function (s) {
      return option(s, s + " (" + DATA.suites[s].n + " models)", s === state.suite);
    }).join("");
    var presetSel = state.preset === null && state.weights.size === 0 ? DATA.default_preset : state.preset;
    $("preset").innerHTML = option("", "custom (only the weights below)", presetSel === null) +
      Object.keys(DATA.presets).map(function (p) { return option(p, p, p === presetSel); }).join("");
    $("preset-desc").textContent = presetSel !== null ? DATA.presets[presetSel].description +
      (state.weights.size ? " (with your changes)" : "") : "only the weights below count";
    $("prefer").innerHTML = S.dims.map(function (d) {
      var on = state.prefer.has(d);
      return '<button type="button" data-dim="' + esc(d) + '" aria-pressed="' + on + '" title="' +
        esc("prefer " + title(d) + ": 3\u00d7 its preset weight (1 where it is 0)") + '">' + esc(title(d)) + "</button>";
    }).join("");
    $("weights").innerHTML = S.dims.map(function (d) {
      var w = eff.weights.has(d) ? eff.weights.get(d) : 0;
      var id = "w-" + d;
      return '<label for="' + id + '" class="' + (w > 0 ? "on" : "") + '" title="' + esc(DIMS[d].description) + '">' +
        esc(title(d) + arrow(d)) + "</label>" +
        '<input type="number" id="' + id + '" data-dim="' + esc(d) + '" min="0" step="any" inputmode="decimal" value="' +
        esc(String(+w.toPrecision(6))) + '">';
    }).join("");
    $("renormalise").checked = state.renormalise;
    $("exclude_missing").checked = state.exclude_missing;
    $("oriented").checked = state.oriented;
    $("max_params").value = state.max_params === null ? "" : String(state.max_params);
    if (document.activeElement !== $("name")) $("name").value = state.name.join(",");
    $("meta-filters").innerHTML = METADATA.filter(function (f) { return S.metadata.indexOf(f) >= 0; }).map(function (f) {
      var values = uniqueSorted(S, f);
      var chosen = new Set();
      state[f].forEach(function (q) { matchValues(q, values).forEach(function (h) { chosen.add(h); }); });
      var counts = {};
      S.rows[f].forEach(function (v) { if (v !== null) counts[v] = (counts[v] || 0) + 1; });
      return '<fieldset><legend>' + esc(f.charAt(0).toUpperCase() + f.slice(1).replace(/_/g, " ")) + '</legend><div class="meta-filter">' +
        values.map(function (v, k) {
          var id = "f-" + f + "-" + k;
          return '<label for="' + id + '"><input type="checkbox" id="' + id + '" data-filter="' + f + '" value="' + esc(v) + '"' +
            (chosen.has(v) ? " checked" : "") + "> " + esc(v) + ' <span class="muted">(' + counts[v] + ")</span></label>";
        }).join("") + "</div></fieldset>";
    }).join("");
    var axes = ["quba"].concat(S.dims);
    ["x", "y"].forEach(function (k) {
      var cur = axisOf(S, k);
      $(k).innerHTML = axes.map(function (d) { return option(d, title(d) + arrow(d), d === cur); }).join("");
    });
    var ref = S.reference;
    $("normalisation").textContent = "Normalisation (\u03bc, \u03c3): " + ref.describe +
      ". Filters never move the scale.";
  }

  function axisOf(S, k) {
    var v = state[k];
    if (v && (v === "quba" || S.dims.indexOf(v) >= 0)) return v;
    if (k === "x") return S.dims.indexOf("accuracy") >= 0 ? "accuracy" : S.dims[0];
    return "quba";
  }

  function bindControls() {
    $("suite").addEventListener("change", function (e) {
      update(function (st) { st.suite = e.target.value; st.sel = []; st.x = null; st.y = null; });
    });
    $("preset").addEventListener("change", function (e) {
      var v = e.target.value;
      update(function (st) {
        if (v === "") {
          var eff = effectiveWeights(st).weights;
          st.weights = new Map();
          eff.forEach(function (w, d) { if (w > 0) st.weights.set(d, w); });
          st.preset = null;
        } else {
          st.preset = v;
          st.weights = new Map();
        }
        st.prefer = new Map();
      });
    });
    $("prefer").addEventListener("click", function (e) {
      var b = e.target.closest("button[data-dim]");
      if (!b) return;
      var d = b.getAttribute("data-dim");
      update(function (st) { if (st.prefer.has(d)) st.prefer.delete(d); else st.prefer.set(d, null); });
    });
    $("weights").addEventListener("change", function (e) {
      var inp = e.target;
      var d = inp.getAttribute("data-dim");
      if (!d) return;
      var v = Number(inp.value);
      if (inp.value.trim() === "" || !finite(v) || v < 0) {
        hashNotes = ["weight of " + d + " must be a number >= 0; kept the previous value"];
        render();
        return;
      }
      update(function (st) {
        if (st.preset === null && st.weights.size === 0) st.preset = DATA.default_preset;
        st.prefer.delete(d);
        st.weights.set(d, v);
      });
    });
    ["renormalise", "exclude_missing", "oriented"].forEach(function (k) {
      $(k).addEventListener("change", function (e) { update(function (st) { st[k] = e.target.checked; }); });
    });
    $("max_params").addEventListener("change", function (e) {
      var v = e.target.value.trim();
      update(function (st) { st.max_params = (v !== "" && Number(v) > 0) ? Number(v) : null; });
    });
    $("name").addEventListener("change", function (e) {
      update(function (st) { st.name = e.target.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean); });
    });
    $("meta-filters").addEventListener("change", function (e) {
      var f = e.target.getAttribute("data-filter");
      if (!f) return;
      var boxes = document.querySelectorAll('input[data-filter="' + f + '"]:checked');
      update(function (st) { st[f] = Array.prototype.map.call(boxes, function (b) { return b.value; }); });
    });
    ["x", "y"].forEach(function (k) {
      $(k).addEventListener("change", function (e) { update(function (st) { st[k] = e.target.value; }); });
    });
    $("reset").addEventListener("click", function () { hashNotes = []; setState(defaultState()); });
    $("download").addEventListener("click", function () {
      var blob = new Blob([rankingCsv(view)], { type: "text/csv" });
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = "quba-ranking-" + state.suite + ".csv";
      document.body.appendChild(a);
      a.click();
      setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 0);
    });
    $("ranking").addEventListener("click", function (e) {
      var sb = e.target.closest("button[data-sort]");
      if (sb) {
        var col = sb.getAttribute("data-sort");
        update(function (st) {
          var cur = st.sort || { col: "rank", desc: false };
          if (cur.col === col) st.sort = { col: col, desc: !cur.desc };
          else st.sort = { col: col, desc: col !== "rank" && col !== "model" && (col === "quba" || hib(col)) };
          if (st.sort.col === "rank" && !st.sort.desc) st.sort = null;
        });
        return;
      }
      var tr = e.target.closest("tbody tr");
      var mb = tr && tr.querySelector("button[data-key]");
      if (mb) toggleSelected(mb.getAttribute("data-key"));  // a click anywhere on a row (or Enter on its button)
    });
    $("detail").addEventListener("click", function (e) {
      var b = e.target.closest("button[data-remove]");
      if (b) toggleSelected(b.getAttribute("data-remove"));
    });
    window.addEventListener("hashchange", loadFromHash);
  }

  function toggleSelected(key) {
    update(function (st) {
      var k = st.sel.indexOf(key);
      if (k >= 0) st.sel.splice(k, 1);
      else {
        st.sel.push(key);
        if (st.sel.length > MAX_SELECTED) st.sel.shift();
      }
    });
  }

  // ------------------------------------------------------------------ rendering
  function plotColors() {
    var cs = getComputedStyle(document.documentElement);
    return { fg: cs.getPropertyValue("--fg").trim(), grid: cs.getPropertyValue("--grid").trim(),
      user: cs.getPropertyValue("--user").trim() };
  }

  function categoryMap(S, col, palette) {
    var m = {};
    if (S.metadata.indexOf(col) < 0) return m;
    uniqueSorted(S, col).forEach(function (v, k) { m[v] = palette[k % palette.length]; });
    return m;
  }

  function renderTable(S, v) {
    var dims = S.dims;
    var multi = new Set(v.ranked.map(function (r) { return S.rows.leaderboard[r.i]; })).size > 1;
    var sort = state.sort || { col: "rank", desc: false };
    var rows = v.ranked.slice();
    if (state.sort) {
      var col = sort.col, sgn = sort.desc ? -1 : 1;
      var val = function (r) {
        if (col === "rank") return r.rank;
        if (col === "quba") return r.quba;
        return S.values[col][r.i];
      };
      rows.sort(function (a, b) {
        if (col === "model") return sgn * cmpStr(a.model, b.model);
        var x = val(a), y = val(b);
        if (x === null && y === null) return a.rank - b.rank;
        if (x === null) return 1;
        if (y === null) return -1;
        return sgn * (x - y) || a.rank - b.rank;
      });
    }
    var th = function (col, label, tip, cls) {
      var aria = sort.col === col ? (sort.desc ? "descending" : "ascending") : "none";
      return '<th scope="col"' + (cls ? ' class="' + cls + '"' : "") + ' aria-sort="' + aria + '"><button type="button" data-sort="' +
        esc(col) + '" title="' + esc(tip) + '">' + esc(label) + (sort.col === col ? (sort.desc ? " \u25bc" : " \u25b2") : "") + "</button></th>";
    };
    var head = "<thead><tr>" + th("rank", "rank", "sort by rank") + th("model", "model", "sort by name", "model") +
      th("quba", "QUBA", "QUBA score (units of reference standard deviations); * = renormalised") +
      (multi ? '<th scope="col">leaderboard</th>' : "") +
      dims.map(function (d) { return th(d, shortName(d) + arrow(d), title(d) + ": sort by value"); }).join("") + "</tr></thead>";
    var sel = new Set(state.sel);
    var body = rows.map(function (r) {
      var i = r.i, key = rowKey(S, i);
      var cells = dims.map(function (d) {
        var x = S.values[d][i];
        if (x === null) return '<td class="na" data-dim="' + d + '">-</td>';
        var z = zOf(S, d, i);
        var b = S.bounds[d];
        var tip = title(d) + " " + pyRepr(x) + (hasCI(b, i) ? " [" + pyRepr(b.lo[i]) + ", " + pyRepr(b.hi[i]) + "]" : "") +
          (finite(z) ? "; oriented z " + fmtSigned(z, 2) : "") +
          (finite(r.contrib[d]) ? "; contribution " + fmtSigned(r.contrib[d], 3) : "");
        var ci = hasCI(b, i) ? '<br><span class="ci">' + fmtValue(d, b.lo[i]) + "\u2013" + fmtValue(d, b.hi[i]) + "</span>" : "";
        return '<td data-dim="' + d + '" title="' + esc(tip) + '">' + fmtValue(d, x) + ci + "</td>";
      }).join("");
      var lb = S.rows.leaderboard[i];
      return '<tr data-model="' + esc(r.model) + '" data-quba="' + pyRepr(r.quba) + '" data-rank="' + r.rank +
        '" data-leaderboard="' + esc(lb) + '"' + (isUser(S, i) || sel.has(key) ? ' class="' + (isUser(S, i) ? "user" : "") + (sel.has(key) ? " selected" : "") + '"' : "") + ">" +
        "<td>" + r.rank + '</td><td class="model"><button type="button" data-key="' + esc(key) + '" aria-pressed="' + sel.has(key) +
        '" title="show details (choose up to 3 to compare)">' + esc(r.model) + "</button></td>" +
        "<td>" + r.quba.toFixed(3) + (r.renormalised ? "*" : "") + "</td>" +
        (multi ? "<td>" + esc(lb.split("/").pop()) + "</td>" : "") + cells + "</tr>";
    }).join("");
    $("ranking").innerHTML = head + "<tbody>" + body + "</tbody>";
    $("ranking-summary").textContent = v.ranked.length + " of " + v.candidates.length + " candidates ranked (" + S.n +
      " models in suite " + state.suite + "); weights: " + v.weights.map(function (t) { return t[0] + "=" + (+t[1].toPrecision(4)); }).join(", ") +
      (state.renormalise ? "; * = renormalised over the weighted dimensions present" : "") +
      ". QUBA is in reference standard deviations; hover a value for its interval and oriented z.";
    var groups = new Map();
    v.excluded.forEach(function (e) { if (!groups.has(e.reason)) groups.set(e.reason, []); groups.get(e.reason).push(e); });
    var items = [];
    groups.forEach(function (es, reason) {
      es.forEach(function (e) {
        items.push('<li data-model="' + esc(e.model) + '" data-reason="' + esc(reason) + '">' + esc(e.model) +
          ' <span class="muted">(' + esc(reason) + ")</span></li>");
      });
    });
    $("not-ranked").innerHTML = items.join("");
    $("not-ranked-summary").textContent = "Not ranked: " + v.excluded.length +
      (v.excluded.length && !state.renormalise ? " (tick Renormalise to score them over what they have)" : "");
  }

  function pointText(S, i, r, xd, yd) {
    var line = function (d) {
      if (d === "quba") return "QUBA " + (r ? r.quba.toFixed(3) + " (rank " + r.rank + ")" : "not ranked");
      var x = S.values[d][i], b = S.bounds[d];
      return title(d) + " " + fmtValue(d, x) + (hasCI(b, i) ? " [" + fmtValue(d, b.lo[i]) + ", " + fmtValue(d, b.hi[i]) + "]" : "");
    };
    var meta = METADATA.filter(function (f) { return S.metadata.indexOf(f) >= 0 && S.rows[f][i]; })
      .map(function (f) { return esc(S.rows[f][i]); }).join(" \u00b7 ");
    return "<b>" + esc(S.rows.model[i]) + "</b>" + (isUser(S, i) ? " (yours)" : "") + (meta ? "<br>" + meta : "") +
      "<br>" + esc(line(xd)) + "<br>" + esc(line(yd)) + (yd !== "quba" && xd !== "quba" && r ? "<br>QUBA " + r.quba.toFixed(3) + " (rank " + r.rank + ")" : "");
  }

  function renderScatter(S, v) {
    if (!plotly) return;
    var xd = axisOf(S, "x"), yd = axisOf(S, "y");
    var byI = {};
    v.ranked.forEach(function (r) { byI[r.i] = r; });
    var val = function (d, i) { return d === "quba" ? (byI[i] ? byI[i].quba : null) : S.values[d][i]; };
    var colors = categoryMap(S, "architecture", PALETTE);
    var symbols = categoryMap(S, "pretraining_data", SYMBOLS);
    var pc = plotColors();
    var sel = new Set(state.sel);
    var groups = new Map();
    var shown = 0;
    v.candidates.forEach(function (i) {
      var x = val(xd, i), y = val(yd, i);
      if (x === null || y === null) return;
      shown++;
      var arch = S.metadata.indexOf("architecture") >= 0 ? (S.rows.architecture[i] || "unknown") : "models";
      if (!groups.has(arch)) groups.set(arch, []);
      groups.get(arch).push(i);
    });
    var err = function (d, idx) {
      var b = S.bounds[d];
      if (d === "quba" || !b) return undefined;
      return { type: "data", symmetric: false, visible: true, thickness: 1, width: 0, color: pc.grid,
        array: idx.map(function (i) { return b.hi[i] === null ? 0 : b.hi[i] - S.values[d][i]; }),
        arrayminus: idx.map(function (i) { return b.lo[i] === null ? 0 : S.values[d][i] - b.lo[i]; }) };
    };
    var traces = [];
    groups.forEach(function (idx, arch) {
      traces.push({
        type: "scatter", mode: "markers", name: arch, legendgroup: "arch",
        x: idx.map(function (i) { return val(xd, i); }), y: idx.map(function (i) { return val(yd, i); }),
        error_x: err(xd, idx), error_y: err(yd, idx),
        customdata: idx.map(function (i) { return rowKey(S, i); }),
        text: idx.map(function (i) { return pointText(S, i, byI[i], xd, yd); }), hoverinfo: "text",
        marker: {
          color: colors[arch] || PALETTE[0],
          symbol: idx.map(function (i) { var p = S.rows.pretraining_data; return (p && symbols[p[i]]) || "circle"; }),
          size: idx.map(function (i) { return sel.has(rowKey(S, i)) ? 16 : isUser(S, i) ? 13 : 8; }),
          opacity: idx.map(function (i) { return isUser(S, i) || sel.has(rowKey(S, i)) ? 1 : 0.7; }),
          line: { color: idx.map(function (i) { return isUser(S, i) || sel.has(rowKey(S, i)) ? pc.fg : "rgba(0,0,0,0)"; }),
            width: idx.map(function (i) { return isUser(S, i) || sel.has(rowKey(S, i)) ? 2 : 0; }) }
        }
      });
    });
    Object.keys(symbols).forEach(function (p) {
      traces.push({ type: "scatter", mode: "markers", x: [null], y: [null], name: p, legendgroup: "pre",
        legendgrouptitle: { text: "pretraining data" }, hoverinfo: "skip",
        marker: { symbol: symbols[p], color: pc.fg, size: 8 } });
    });
    var anyUser = v.candidates.some(function (i) { return isUser(S, i); });
    var hasRef = v.candidates.some(function (i) { return !isUser(S, i); });
    if (anyUser && hasRef) {
      traces.push({ type: "scatter", mode: "markers", x: [null], y: [null], name: "your results", legendgroup: "user",
        hoverinfo: "skip", marker: { symbol: "circle", color: "rgba(0,0,0,0)", size: 13, line: { color: pc.fg, width: 2 } } });
    }
    var axis = function (d) {
      return { title: { text: title(d) + arrow(d) }, gridcolor: pc.grid, zerolinecolor: pc.grid,
        type: d === "parameters_m" ? "log" : "linear" };
    };
    var layout = {
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: pc.fg },
      margin: { l: 60, r: 10, t: 10, b: 50 }, xaxis: axis(xd), yaxis: axis(yd), hovermode: "closest",
      legend: { groupclick: "toggleitem" }, height: 460
    };
    plotly.react("scatter", traces, layout, { displaylogo: false, responsive: true });
    $("scatter-note").textContent = shown + " of " + v.candidates.length + " candidates have both values. " +
      "Colour: architecture; marker: pretraining data; larger outlined markers: your results" +
      (S.bounds[xd] || S.bounds[yd] ? "; bars: 95% intervals" : "") + ". Click a point to choose it.";
  }

  function strengths(S, i) {
    var zs = S.dims.map(function (d) { return [d, zOf(S, d, i)]; }).filter(function (t) { return finite(t[1]); });
    return {
      strong: zs.filter(function (t) { return t[1] >= DATA.strength_z; }).sort(function (a, b) { return b[1] - a[1]; }),
      weak: zs.filter(function (t) { return t[1] <= -DATA.strength_z; }).sort(function (a, b) { return a[1] - b[1]; })
    };
  }

  function renderDetail(S, v) {
    var keys = state.sel.filter(function (k) { return findRow(S, k) >= 0; });
    var byI = {};
    v.ranked.forEach(function (r) { byI[r.i] = r; });
    var exByI = {};
    v.excluded.forEach(function (e) { exByI[e.i] = e; });
    var cands = new Set(v.candidates);
    $("detail-hint").hidden = keys.length > 0;
    var missingSel = state.sel.filter(function (k) { return findRow(S, k) < 0; });
    if (missingSel.length) v.notes.push("no model " + missingSel.map(function (k) { return "'" + k + "'"; }).join(", ") + " in suite " + state.suite + "; not shown");
    $("detail").innerHTML = keys.map(function (key, n) {
      var i = findRow(S, key), r = byI[i];
      var sw = strengths(S, i);
      var status = r ? "QUBA " + fmtSigned(r.quba, 3) + (r.renormalised ? "*" : "") + ", rank " + r.rank + " of " + v.ranked.length
        : exByI[i] ? "not ranked: " + exByI[i].reason : cands.has(i) ? "not ranked" : "filtered out";
      var meta = METADATA.concat(["paper_title", "source"]).filter(function (f) { return S.rows[f] && S.rows[f][i]; })
        .map(function (f) { return esc(S.rows[f][i]); }).join(" \u00b7 ");
      var list = function (xs) {
        return xs.length ? xs.map(function (t) { return esc(title(t[0])) + " " + fmtSigned(t[1], 2); }).join(", ") : "none at 1 sd";
      };
      var rows = S.dims.map(function (d) {
        var x = S.values[d][i], b = S.bounds[d], z = zOf(S, d, i);
        return "<tr><th scope=\"row\" class=\"model\">" + esc(shortName(d) + arrow(d)) + "</th><td>" + fmtValue(d, x) +
          (hasCI(b, i) ? ' <span class="ci">[' + fmtValue(d, b.lo[i]) + ", " + fmtValue(d, b.hi[i]) + "]</span>" : "") +
          "</td><td>" + (finite(z) ? fmtSigned(z, 2) : "-") + "</td></tr>";
      }).join("");
      return '<article class="model-card" data-model="' + esc(S.rows.model[i]) + '"><h3><span><span class="swatch" style="background:' +
        PALETTE[n] + '"></span>' + esc(S.rows.model[i]) + (isUser(S, i) ? " (yours)" : "") + '</span><button type="button" data-remove="' + esc(key) +
        '" aria-label="remove ' + esc(S.rows.model[i]) + ' from the comparison">\u00d7</button></h3>' +
        '<p class="small">' + esc(status) + (meta ? "<br>" + meta : "") + "</p>" +
        '<p class="small"><b>Strengths:</b> <span class="strengths">' + list(sw.strong) + '</span><br><b>Weaknesses:</b> <span class="weaknesses">' +
        list(sw.weak) + "</span></p>" +
        '<table><thead><tr><th scope="col" class="model">dim</th><th scope="col">value [95% CI]</th><th scope="col">z</th></tr></thead><tbody>' +
        rows + "</tbody></table></article>";
    }).join("");
    if (!plotly) return;
    var radar = $("radar");
    if (!keys.length) { plotly.purge(radar); radar.style.minHeight = "0"; return; }
    radar.style.minHeight = "420px";
    var pc = plotColors();
    var theta = S.dims.map(function (d) { return title(d) + arrow(d); });
    var traces = keys.map(function (key, n) {
      var i = findRow(S, key);
      var r = S.dims.map(function (d) { var z = zOf(S, d, i); return finite(z) ? Math.max(-3, Math.min(3, z)) : null; });
      return { type: "scatterpolar", r: r.concat([r[0]]), theta: theta.concat([theta[0]]), name: S.rows.model[i], fill: "toself",
        opacity: 0.6, line: { color: PALETTE[n] }, hovertemplate: "%{theta}: z %{r:.2f}<extra>" + esc(S.rows.model[i]) + "</extra>" };
    });
    traces.push({ type: "scatterpolar", mode: "lines", r: theta.map(function () { return 0; }).concat([0]), theta: theta.concat([theta[0]]),
      name: "reference mean (z = 0)", line: { color: pc.grid, dash: "dash" }, hoverinfo: "skip" });
    plotly.react(radar, traces, {
      paper_bgcolor: "rgba(0,0,0,0)", font: { color: pc.fg }, height: 420, margin: { l: 60, r: 60, t: 30, b: 30 },
      polar: { bgcolor: "rgba(0,0,0,0)", radialaxis: { range: [-3, 3], gridcolor: pc.grid, tickvals: [-2, -1, 0, 1, 2], angle: 90, tickfont: { size: 9 } },
        angularaxis: { gridcolor: pc.grid } }
    }, { displaylogo: false, responsive: true });
  }

  function renderHeatmap(S, v) {
    var notes = [];
    var rows = applyFilters(S, state, notes, false);
    var dims = S.dims;
    v.correlation = null;
    if (rows.length < 3 || dims.length < 2) {
      $("corr-note").textContent = "Correlation needs at least 3 models and 2 dimensions; " + rows.length + " models pass the filters.";
      if (plotly) plotly.purge($("heatmap"));
      return;
    }
    var pairs = spearmanPairs(S, rows, dims, state.oriented);
    v.correlation = pairs;
    var look = {};
    pairs.forEach(function (p) { look[p.dim_a + "|" + p.dim_b] = look[p.dim_b + "|" + p.dim_a] = p; });
    var z = [], text = [];
    dims.forEach(function (a) {
      var zr = [], tr = [];
      dims.forEach(function (b) {
        if (a === b) { zr.push(1); tr.push("1"); return; }
        var p = look[a + "|" + b];
        zr.push(finite(p.rho) ? p.rho : null);
        tr.push(finite(p.rho) ? p.rho.toFixed(2) : "-");
      });
      z.push(zr); text.push(tr);
    });
    var hover = dims.map(function (a) {
      return dims.map(function (b) {
        if (a === b) return title(a);
        var p = look[a + "|" + b];
        return title(a) + " vs " + title(b) + "<br>\u03c1 = " + (finite(p.rho) ? p.rho.toFixed(3) : "-") + ", p = " +
          (finite(p.p_value) ? p.p_value.toPrecision(3) : "-") + ", n = " + p.n;
      });
    });
    $("corr-note").textContent = "Spearman \u03c1 (pairwise-complete rows; scipy.stats.spearmanr, as quba correlate) over the " +
      rows.length + " models passing the filters" + (state.oriented ? ", oriented" : ", raw values") + ". Hover for p-value and n.";
    if (!plotly) return;
    var pc = plotColors();
    var labels = dims.map(shortName);
    plotly.react("heatmap", [{ type: "heatmap", z: z, x: labels, y: labels, text: text, texttemplate: "%{text}", customdata: hover,
      hovertemplate: "%{customdata}<extra></extra>", zmin: -1, zmax: 1, colorscale: "RdBu",
      colorbar: { title: { text: "\u03c1" } } }],
      { paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: pc.fg }, height: 460,
        margin: { l: 70, r: 10, t: 10, b: 70 }, yaxis: { autorange: "reversed" } },
      { displaylogo: false, responsive: true });
  }

  function renderNotices(notes) {
    $("notices").innerHTML = notes.map(function (n) { return '<p class="notice">' + esc(n) + "</p>"; }).join("");
  }

  function render() {
    var S = DATA.suites[state.suite];
    var eff = effectiveWeights(state);
    view = compute(state);
    renderControls(S, eff);
    renderTable(S, view);
    var extra = [];
    try { renderDetail(S, view); } catch (e) { extra.push("the model detail failed: " + e.message); }
    try { renderScatter(S, view); } catch (e) { extra.push("the scatter plot failed: " + e.message); }
    try { renderHeatmap(S, view); } catch (e) { extra.push("the heatmap failed: " + e.message); }
    if (!plotly && plotlyChecked) extra.push("Plotly is missing from this file, so the plots are not drawn; the table works.");
    renderNotices(hashNotes.concat(view.notes, extra));
    window.quba.view = view;
    window.quba.state = state;
  }

  function loadFromHash() {
    var parsed = parseHash(location.hash);
    hashNotes = parsed.notes;
    state = parsed.state;
    render();
  }

  window.quba = {
    data: DATA, pyRepr: pyRepr, parseHash: parseHash, stateToHash: stateToHash, csv: function () { return rankingCsv(view); },
    correlation: function () { return view.correlation; },
    hash: function () { return stateToHash(state); }
  };

  function start() {
    var t0 = performance.now();
    $("subtitle").textContent = "quba " + DATA.version + ", generated " + DATA.generated + " from " + DATA.sources.map(function (s) {
      return s.split("/").pop();
    }).join(", ") + ". Offline: everything is in this file.";
    $("footer").innerHTML = "QUBA = \u03a3<sub>d</sub> w<sub>d</sub> s<sub>d</sub> (x<sub>d</sub> \u2212 \u03bc<sub>d</sub>)/\u03c3<sub>d</sub> / \u03a3<sub>d</sub> w<sub>d</sub> " +
      "(Hesse et al., Beyond Accuracy, Sec. 4); s<sub>d</sub> = +1 where higher is better. The same numbers as <code>quba rank</code>. " +
      "The view is in the address: copy it to share.";
    bindControls();
    loadFromHash();
    // First render: every row of the table, ranked, with the controls (before Plotly is parsed).
    window.quba.renderMs = performance.now();  // since navigation start
    window.quba.firstViewMs = window.quba.renderMs - t0;  // the first render alone
    document.documentElement.setAttribute("data-render-ms", String(Math.round(window.quba.renderMs)));
  }

  /** Called by the last script of the page, after Plotly's: draw the plots. data-ready marks the page complete. */
  window.quba.plotlyReady = function () {
    var t0 = performance.now();
    plotly = typeof window.Plotly !== "undefined" ? window.Plotly : null;
    plotlyChecked = true;
    render();
    window.quba.plotsMs = performance.now();  // since navigation start, the plots drawn
    window.quba.plotsRenderMs = window.quba.plotsMs - t0;  // drawing the plots alone
    document.documentElement.setAttribute("data-ready", "1");
  };

  start();
})();
