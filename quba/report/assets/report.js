/* quba interactive report.
 *
 * Recomputes, in the browser, exactly what quba.ranking computes in Python:
 *   QUBA(m) = sum_d w_d s_d (x_{m,d} - mu_d) / sigma_d / sum_d w_d
 * (Hesse et al., "Beyond Accuracy", Sec. 4; quba/ranking/score.py), with the
 * reference mu/sigma computed by Python for each suite (so filters never move the
 * scale), the presets and "prefer" of quba/ranking/weights.py and
 * recommendation.py, the filters of score.Filters, the ranks of score.rank
 * (scores rounded to 12 decimals, ties share the lowest rank and are listed by
 * name), the remedies of score.REMEDIES, Spearman rho and p-values as
 * scipy.stats.spearmanr (correlation.py) and the CSV of `quba rank --format csv`
 * (render.ranking_csv).
 *
 * The whole view lives in the URL hash (see STATE_KEYS); every change the user makes
 * is a history entry, so Back undoes it. window.quba exposes the state and the
 * computed view for scripts and tests.
 *
 * The page draws itself in two steps: the ranking, the controls and every text at
 * once; Plotly (inlined as text, see report.html) is run after the first paint, and
 * the plots follow (loadPlotly). Each section of the page is drawn by an entry of
 * SECTIONS; to add a section, see the comment there.
 */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("quba-data").textContent);
  var DIMS = DATA.dimensions;
  var METADATA = ["architecture", "paradigm", "pretraining_data"];
  var STATE_KEYS = ["suite", "preset", "weights", "prefer", "renormalise", "exclude_missing", "architecture",
    "paradigm", "pretraining_data", "max_params", "name", "x", "y", "sel", "sort", "oriented", "marker", "fixed",
    "hide"];
  var MAX_SELECTED = 3;
  /** What the page reads from an address or a text box, at most: a link can be long and hostile. */
  var LIMITS = {
    item: 256,     // characters of one glob, filter value or model name
    list: 64,      // entries of one comma-separated list
    notices: 8,    // notices shown at once (the rest behind "more")
    noticeChars: 400
  };
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf"];
  var SYMBOLS = ["circle", "square", "diamond", "triangle-up", "cross", "x", "triangle-down", "pentagon",
    "hexagon", "star"];
  /** The marker symbols as characters, for the table and the legend text. */
  var GLYPHS = { circle: "\u25cf", square: "\u25a0", diamond: "\u25c6", "triangle-up": "\u25b2", cross: "\u271a",
    x: "\u2716", "triangle-down": "\u25bc", pentagon: "\u2b1f", hexagon: "\u2b22", star: "\u2605" };
  var SHORT = {
    accuracy: "acc", adversarial_robustness: "adv", corruption_robustness: "corr", ood_robustness: "ood",
    calibration_error: "calib", class_balance: "balance", object_focus: "focus", shape_bias: "shape",
    parameters_m: "params"
  };
  var META_TITLE = { architecture: "architecture", paradigm: "training paradigm", pretraining_data: "pretraining data" };
  var NARROW = "(max-width: 640px)";  // phone layout of the plots (legend below, full width)

  function $(id) { return document.getElementById(id); }

  /** Text for innerHTML, and for Plotly's labels (which decode &amp; &lt; &gt; and numeric entities only). */
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;" }[c];
    });
  }

  /** A value from a link, shortened for a notice. */
  function clip(s) {
    s = String(s);
    return s.length <= 60 ? s : s.slice(0, 50) + "\u2026 (" + s.length.toLocaleString("en") + " characters)";
  }

  /** A notice that groups with others of the same kind: "head: item; item; and 12 more". */
  function grouped(group, head, item) { return { g: group, head: head, item: item }; }

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
      x: null, y: null, sel: [], sort: null, oriented: false, marker: null, fixed: false, hide: []
    };
  }

  function cloneState(st) {
    var c = Object.assign({}, st);
    c.weights = new Map(st.weights);
    c.prefer = new Map(st.prefer);
    METADATA.concat(["name", "sel", "hide"]).forEach(function (k) { c[k] = st[k].slice(); });
    return c;
  }

  /** A comma-separated value (of the address, URI-encoded, or of a text box, raw): its non-blank entries, at
   * most LIMITS.list of at most LIMITS.item characters each; the rest is ignored with one notice per key. */
  function list(v, key, notes, raw) {
    var parts = v.split(",");
    if (parts.length > LIMITS.list) {
      notes.push("'" + key + "' has " + parts.length.toLocaleString("en") + " entries; read the first " + LIMITS.list +
        " and ignored the rest");
      parts = parts.slice(0, LIMITS.list);
    }
    var out = [];
    parts.forEach(function (s) {
      var d = s;
      if (!raw) {
        try { d = decodeURIComponent(s); } catch (e) {
          notes.push(grouped("decode " + key, "could not decode {} of '" + key + "'; ignored", "'" + clip(s) + "'"));
          return;
        }
      }
      if (d.trim() === "") return;
      if (d.length > LIMITS.item) {
        notes.push(grouped("long " + key, "'" + key + "' entries longer than " + LIMITS.item + " characters are ignored: {}", clip(d)));
        return;
      }
      out.push(raw ? d.trim() : d);
    });
    return out;
  }

  function parseBool(v, key, notes) {
    if (/^(1|true|yes|on)$/i.test(v)) return true;
    if (/^(0|false|no|off)$/i.test(v)) return false;
    notes.push("'" + key + "=" + clip(v) + "' is not 1 or 0; ignored");
    return false;
  }

  function parseWeightList(v, key, notes, bare) {
    var out = new Map();
    list(v, key, notes).forEach(function (part) {
      var m = part.split(/[:=]/);
      try {
        var d = canonical(m[0]);
        if (out.has(d)) throw new Error("dimension " + d + " is given twice");
        var w;
        if (m.length === 1) w = bare;
        else {
          w = parseNumber(m.slice(1).join(":"), "weight of " + clip(m[0]));
          if (w < 0) throw new Error("weight of " + d + " is negative");
        }
        out.set(d, w);
      } catch (e) {
        notes.push(grouped("entry " + key, "ignored in '" + key + "': {}", "'" + clip(part) + "' (" + e.message + ")"));
      }
    });
    return out;
  }

  var MARKERS = ["paradigm", "pretraining_data", "none"];

  function parseHash(hash) {
    var st = defaultState();
    var notes = [];
    var text = hash.replace(/^#/, "");
    if (!text) return { state: st, notes: notes };
    var items = text.split("&");
    if (items.length > LIMITS.list) {
      notes.push("the link has " + items.length.toLocaleString("en") + " settings; read the first " + LIMITS.list);
      items = items.slice(0, LIMITS.list);
    }
    items.forEach(function (item) {
      if (!item) return;
      var i = item.indexOf("=");
      var key = i < 0 ? item : item.slice(0, i);
      var v = i < 0 ? "" : item.slice(i + 1);
      var dkey;
      try { dkey = decodeURIComponent(key); } catch (e) {
        notes.push(grouped("decode", "could not decode {}; ignored", "'" + clip(item) + "'"));
        return;
      }
      if (STATE_KEYS.indexOf(dkey) < 0) {
        notes.push(grouped("unknown", "unknown setting {} in the link; ignored (known: " + STATE_KEYS.join(", ") + ")",
          "'" + clip(dkey) + "'"));
        return;
      }
      var one = function () { return list(v, dkey, notes).join(","); };
      switch (dkey) {
        case "suite":
          var s = one();
          if (DATA.suites[s.toLowerCase()]) st.suite = s.toLowerCase();
          else notes.push("no suite '" + clip(s) + "' in this report (it has: " + Object.keys(DATA.suites).join(", ") + "); ignored");
          break;
        case "preset":
          try { st.preset = getPreset(one()); } catch (e) { notes.push(e.message + "; ignored"); }
          break;
        case "weights": st.weights = parseWeightList(v, "weights", notes, 1.0); break;
        case "prefer": st.prefer = parseWeightList(v, "prefer", notes, null); break;
        case "renormalise": case "exclude_missing": case "oriented": case "fixed": st[dkey] = parseBool(one(), dkey, notes); break;
        case "architecture": case "paradigm": case "pretraining_data": case "name":
          st[dkey] = list(v, dkey, notes); break;
        case "sel":
          st.sel = list(v, dkey, notes);
          if (st.sel.length > MAX_SELECTED) {
            notes.push("at most " + MAX_SELECTED + " models are compared; 'sel' names " + st.sel.length + ", kept the first " + MAX_SELECTED);
            st.sel = st.sel.slice(0, MAX_SELECTED);
          }
          break;
        case "hide":
          st.hide = list(v, dkey, notes).filter(function (c) {
            if (METADATA.indexOf(c) >= 0) return true;
            notes.push(grouped("hide", "'hide' takes " + METADATA.join(", ") + "; ignored {}", "'" + clip(c) + "'"));
            return false;
          });
          break;
        case "marker":
          var mk = one().toLowerCase();
          if (MARKERS.indexOf(mk) >= 0) st.marker = mk;
          else notes.push("marker '" + clip(mk) + "' is not one of " + MARKERS.join(", ") + "; ignored");
          break;
        case "max_params":
          var o = one(), p = Number(o);
          if (o.trim() !== "" && finite(p) && p > 0) st.max_params = p;
          else notes.push("max_params '" + clip(o) + "' is not a positive number of millions; ignored");
          break;
        case "x": case "y":
          var ax = one();
          if (ax.toLowerCase() === "quba") st[dkey] = "quba";
          else {
            try { st[dkey] = canonical(ax); } catch (e) { notes.push(dkey + " axis: " + clip(e.message) + "; ignored"); }
          }
          break;
        case "sort":
          var so = one();
          var desc = so.charAt(0) === "-";
          var col = desc ? so.slice(1) : so;
          if (col === "rank" || col === "model" || col === "quba" || METADATA.indexOf(col) >= 0) st.sort = { col: col, desc: desc };
          else {
            try { st.sort = { col: canonical(col), desc: desc }; } catch (e) { notes.push("sort: " + clip(e.message) + "; ignored"); }
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
    if (st.marker) p.push("marker=" + st.marker);
    if (st.fixed) p.push("fixed=1");
    if (st.hide.length) p.push("hide=" + encList(st.hide));
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

  var STAR = "*";

  function codePoint(ch) { return ch.codePointAt(0); }

  /** One [...] of a glob as Python's fnmatch.translate reads it (p: the glob's characters, p[i:j] the inside):
   * split at the hyphens that make ranges, ranges whose ends are out of order dropped, "!" first negates. */
  function charClass(p, i, j) {
    var chunks;
    var stuff = p.slice(i, j);
    if (stuff.indexOf("-") < 0) chunks = [stuff];
    else {
      chunks = [];
      var k = p[i] === "!" ? i + 2 : i + 1;
      for (;;) {
        k = k < j ? p.indexOf("-", k) : -1;
        if (k < 0 || k >= j) break;
        chunks.push(p.slice(i, k));
        i = k + 1;
        k = k + 3;
      }
      var chunk = p.slice(i, j);
      if (chunk.length) chunks.push(chunk);
      else chunks[chunks.length - 1] = chunks[chunks.length - 1].concat(["-"]);
      for (var m = chunks.length - 1; m > 0; m--) {
        var a = chunks[m - 1], b = chunks[m];
        if (codePoint(a[a.length - 1]) > codePoint(b[0])) {
          chunks[m - 1] = a.slice(0, -1).concat(b.slice(1));
          chunks.splice(m, 1);
        }
      }
    }
    if (chunks.length === 1 && chunks[0].length === 0) return function () { return false; };  // empty: never
    if (chunks.length === 1 && chunks[0].length === 1 && chunks[0][0] === "!") return function () { return true; };
    var neg = chunks[0][0] === "!";
    if (neg) chunks[0] = chunks[0].slice(1);
    // Between two chunks a range (last of one to first of the next); every other character is itself.
    var lits = new Set(), ranges = [];
    chunks.forEach(function (c, n) {
      c.forEach(function (ch, t) {
        var end = n > 0 && t === 0, start = n < chunks.length - 1 && t === c.length - 1;
        if (start) ranges.push([codePoint(ch), codePoint(chunks[n + 1][0])]);
        if (!start && !end) lits.add(codePoint(ch));
      });
    });
    return function (ch) {
      var c = codePoint(ch);
      var hit = lits.has(c) || ranges.some(function (r) { return r[0] <= c && c <= r[1]; });
      return neg ? !hit : hit;
    };
  }

  /** A glob as tokens: STAR, or a test of one character (fnmatch.translate's reading of *, ?, [...]). */
  function compileGlob(g) {
    var p = Array.from(g), n = p.length, i = 0, toks = [];
    var lit = function (c) { return function (ch) { return ch === c; }; };
    while (i < n) {
      var c = p[i++];
      if (c === "*") { if (toks[toks.length - 1] !== STAR) toks.push(STAR); }
      else if (c === "?") toks.push(function () { return true; });
      else if (c === "[") {
        var j = i;
        if (j < n && p[j] === "!") j++;
        if (j < n && p[j] === "]") j++;
        while (j < n && p[j] !== "]") j++;
        if (j >= n) toks.push(lit("["));
        else { toks.push(charClass(p, i, j)); i = j + 1; }
      } else toks.push(lit(c));
    }
    return toks;
  }

  /** fnmatch.fnmatchcase(name, glob) without a regular expression: a glob from a link can be long and
   * hostile, and this walk (back to the last star on a mismatch) takes O(len(name) x len(glob)) at worst. */
  function globMatch(toks, name) {
    var s = Array.from(name), i = 0, t = 0, starT = -1, starI = 0;
    while (i < s.length) {
      if (t < toks.length && toks[t] !== STAR && toks[t](s[i])) { i++; t++; }
      else if (t < toks.length && toks[t] === STAR) { starT = t++; starI = i; }
      else if (starT >= 0) { t = starT + 1; i = ++starI; }
      else return false;
    }
    while (t < toks.length && toks[t] === STAR) t++;
    return t === toks.length;
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
        if (!hits.length) notes.push(grouped("nomatch " + f, "no " + f.replace(/_/g, " ") + " matches {}; values: " + values.join(", ") + "; ignored", "'" + clip(q) + "'"));
        else { any = true; hits.forEach(function (h) { chosen.add(h); }); }
      });
      if (!any) return;
      var col = S.rows[f];
      for (i = 0; i < n; i++) if (!chosen.has(col[i] === null ? "nan" : col[i])) keep[i] = false;
    });
    if (st.name.length) {
      var globs = st.name.map(function (g) { return compileGlob(g.toLowerCase()); });
      for (i = 0; i < n; i++) {
        var nm = S.rows.model[i].toLowerCase();
        if (!globs.some(function (g) { return globMatch(g, nm); })) keep[i] = false;
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
      if (reason) {
        // score.REMEDIES: what would rank it (no weighted value: other weights; no size under max_params: that filter)
        var remedy = missing.length === w.length ? "weights" :
          st.max_params !== null && S.has_params_column && S.values.parameters_m[i] === null ? "parameters" : "renormalise";
        view.excluded.push({ i: i, model: S.rows.model[i], leaderboard: S.rows.leaderboard[i], reason: reason, remedy: remedy });
      }
      else ranked.push({ i: i, model: S.rows.model[i], quba: q, key: round12(q), renormalised: missing.length > 0, contrib: contrib });
    });
    // Scores equal up to rounding noise (1e-12) share a rank and are listed by name (stable otherwise).
    ranked.sort(function (a, b) { return b.key - a.key || cmpStr(a.model, b.model); });
    ranked.forEach(function (r, k) { r.rank = (k > 0 && r.key === ranked[k - 1].key) ? ranked[k - 1].rank : k + 1; });
    view.ranked = ranked;
    if (!ranked.length) notes.push("no model can be ranked: none of the " + cand.length + " candidates has every weighted value; " +
      "Not ranked, under the table, says what would rank them");
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


  // ------------------------------------------------------------------ page state and history
  var state = defaultState();
  var linkNotes = [];  // notices about the address the view was read from (until the user changes the view)
  var uiNotes = [];    // a notice about what was just typed (until the next change)
  var view = null;
  // Plotly's 5 MB are run after the first paint (loadPlotly): the table comes first, the plots when it has run.
  var plotly = null;
  var plotlyChecked = false;  // whether loadPlotly has run (so a missing Plotly is reported)
  var shownHash = null;       // the hash the view was last read from or written to
  var lastChange = { what: null, t: 0 };
  var builtFor = null;        // the suite the controls were built for

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

  /** Show `st` and write it to the address as a new history entry, so Back undoes the change and Forward redoes
   * it. Quick repeats of one typed change (`what`: a weight, the size limit) replace their entry instead. */
  function setState(st, what) {
    state = st;
    linkNotes = [];
    var h = stateToHash(st);
    var url = location.href.replace(/#.*$/, "") + (h ? "#" + h : "");
    var now = Date.now();
    var again = !!what && what === lastChange.what && now - lastChange.t < 1500;
    lastChange = { what: what || null, t: now };
    if (url !== location.href) {
      try { history[again ? "replaceState" : "pushState"](null, "", url); } catch (e) { /* file:// in some browsers */ }
    }
    shownHash = location.hash;
    render();
  }

  function update(fn, what, notes) {
    var st = cloneState(state);
    fn(st);
    uiNotes = notes || [];
    setState(st, what);
  }

  /** The view of the address (on opening, Back, Forward, or an edited address); a bare section id scrolls. */
  function loadFromHash(first) {
    if (first !== true && location.hash === shownHash) return;  // our own history entry: already shown
    shownHash = location.hash;
    var h = location.hash.replace(/^#/, "");
    var target = /^[A-Za-z][\w-]*$/.test(h) && STATE_KEYS.indexOf(h) < 0 ? $(h) : null;
    if (target) {
      if (first === true) render();
      jump(target);
      return;
    }
    var parsed = parseHash(location.hash);
    linkNotes = parsed.notes;
    uiNotes = [];
    state = parsed.state;
    render();
  }

  function jump(el) {
    if (!el) return;
    if (el.closest("details") && !el.closest("details").open) el.closest("details").open = true;
    el.scrollIntoView({ block: "start" });
    el.focus({ preventScroll: true });
  }

  // ------------------------------------------------------------------ controls
  function option(value, label) {
    return '<option value="' + esc(value) + '">' + esc(label) + "</option>";
  }

  function metaPresent(S) { return METADATA.filter(function (f) { return S.metadata.indexOf(f) >= 0; }); }

  /** The controls of a suite, built once for it; syncControls then changes them in place, so focus, caret
   * and a screen reader's place survive every re-render. */
  function buildControls(S) {
    var suites = Object.keys(DATA.suites);
    $("suite-row").hidden = suites.length < 2;
    $("suite").innerHTML = suites.map(function (s) { return option(s, s + " (" + DATA.suites[s].n + " models)"); }).join("");
    $("preset").innerHTML = option("", "custom (only the weights below)") +
      Object.keys(DATA.presets).map(function (p) { return option(p, p); }).join("");
    $("prefer").innerHTML = S.dims.map(function (d) {
      return '<button type="button" data-dim="' + esc(d) + '" aria-pressed="false" title="' +
        esc("prefer " + title(d) + ": 3\u00d7 its preset weight (1 where it is 0)") + '">' + esc(title(d)) + "</button>";
    }).join("");
    $("weights").innerHTML = S.dims.map(function (d) {
      var id = "w-" + d;
      return '<label for="' + esc(id) + '" title="' + esc(DIMS[d] ? DIMS[d].description : d) + '">' + esc(title(d) + arrow(d)) +
        '</label><input type="number" id="' + esc(id) + '" data-dim="' + esc(d) + '" min="0" step="any" inputmode="decimal">';
    }).join("");
    $("meta-filters").innerHTML = metaPresent(S).map(function (f) {
      var counts = {};
      S.rows[f].forEach(function (v) { if (v !== null) counts[v] = (counts[v] || 0) + 1; });
      return '<fieldset><legend>' + esc(META_TITLE[f].charAt(0).toUpperCase() + META_TITLE[f].slice(1)) +
        '</legend><div class="meta-filter">' + uniqueSorted(S, f).map(function (v, k) {
          var id = "f-" + f + "-" + k;
          return '<label for="' + id + '"><input type="checkbox" id="' + id + '" data-filter="' + f + '" value="' + esc(v) + '"> ' +
            esc(v) + ' <span class="muted">(' + counts[v] + ")</span></label>";
        }).join("") + "</div></fieldset>";
    }).join("");
    var axes = ["quba"].concat(S.dims);
    ["x", "y"].forEach(function (k) {
      $(k).innerHTML = axes.map(function (d) { return option(d, title(d) + arrow(d)); }).join("");
    });
    $("marker").innerHTML = metaPresent(S).filter(function (f) { return f !== "architecture"; })
      .map(function (f) { return option(f, META_TITLE[f]); }).join("") + option("none", "one shape");
    $("col-toggles").innerHTML = metaPresent(S).length ? '<span class="muted small">Columns:</span> ' + metaPresent(S).map(function (f) {
      return '<label class="small"><input type="checkbox" id="col-' + f + '" data-col="' + f + '"> ' + esc(META_TITLE[f]) + "</label>";
    }).join(" ") : "";
    builtFor = S;
  }

  function setValue(el, v) {
    if (el && el !== document.activeElement && el.value !== v) el.value = v;
  }

  function syncControls(S, eff) {
    setValue($("suite"), state.suite);
    var presetSel = state.preset === null && state.weights.size === 0 ? DATA.default_preset : state.preset;
    setValue($("preset"), presetSel === null ? "" : presetSel);
    $("preset-desc").textContent = presetSel !== null ? DATA.presets[presetSel].description +
      (state.weights.size ? " (with your changes)" : "") : "only the weights below count";
    Array.prototype.forEach.call($("prefer").querySelectorAll("button[data-dim]"), function (b) {
      b.setAttribute("aria-pressed", String(state.prefer.has(b.getAttribute("data-dim"))));
    });
    Array.prototype.forEach.call($("weights").querySelectorAll("input[data-dim]"), function (inp) {
      var d = inp.getAttribute("data-dim");
      var w = eff.weights.has(d) ? eff.weights.get(d) : 0;
      setValue(inp, String(+w.toPrecision(6)));
      inp.previousElementSibling.className = w > 0 ? "on" : "";
    });
    ["renormalise", "exclude_missing", "oriented", "fixed"].forEach(function (k) { $(k).checked = state[k]; });
    setValue($("max_params"), state.max_params === null ? "" : String(state.max_params));
    setValue($("name"), state.name.join(","));
    metaPresent(S).forEach(function (f) {
      var chosen = new Set();
      state[f].forEach(function (q) { matchValues(q, uniqueSorted(S, f)).forEach(function (h) { chosen.add(h); }); });
      Array.prototype.forEach.call(document.querySelectorAll('input[data-filter="' + f + '"]'), function (b) {
        b.checked = chosen.has(b.value);
      });
      var col = $("col-" + f);
      if (col) col.checked = state.hide.indexOf(f) < 0;
    });
    setValue($("x"), axisOf(S, "x"));
    setValue($("y"), axisOf(S, "y"));
    setValue($("marker"), markerOf(S));
    $("normalisation").textContent = "Normalisation (\u03bc, \u03c3): " + S.reference.describe + ". Filters never move the scale.";
    var nf = METADATA.filter(function (f) { return state[f].length; }).length + (state.max_params !== null) + (state.name.length > 0) +
      state.exclude_missing;
    $("controls-status").textContent = (presetSel !== null ? "preset " + presetSel + (state.weights.size || state.prefer.size ? " (changed)" : "") : "custom weights") +
      (nf ? ", " + nf + " filter" + (nf > 1 ? "s" : "") : "") + (state.renormalise ? ", renormalised" : "");
  }

  function axisOf(S, k) {
    var v = state[k];
    if (v && (v === "quba" || S.dims.indexOf(v) >= 0)) return v;
    if (k === "x") return S.dims.indexOf("accuracy") >= 0 ? "accuracy" : S.dims[0];
    return "quba";
  }

  /** The column marker shapes stand for: the chosen one if the suite has it, else paradigm, pretraining data, none. */
  function markerOf(S) {
    var m = state.marker;
    if (m === "none" || (m && S.metadata.indexOf(m) >= 0)) return m;
    return ["paradigm", "pretraining_data"].filter(function (f) { return S.metadata.indexOf(f) >= 0; })[0] || "none";
  }

  /** Offer `text` as a CSV file download. */
  function saveText(text, name) {
    var blob = new Blob([text], { type: "text/csv" });
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 0);
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
        var eff = effectiveWeights(state).weights;
        inp.value = String(+(eff.has(d) ? eff.get(d) : 0).toPrecision(6));
        uiNotes = ["weight of " + d + " must be a number >= 0; kept the previous value"];
        render();
        return;
      }
      update(function (st) {
        if (st.preset === null && st.weights.size === 0) st.preset = DATA.default_preset;
        st.prefer.delete(d);
        st.weights.set(d, v);
      }, "w-" + d);
    });
    ["renormalise", "exclude_missing", "oriented", "fixed"].forEach(function (k) {
      $(k).addEventListener("change", function (e) { update(function (st) { st[k] = e.target.checked; }); });
    });
    $("max_params").addEventListener("change", function (e) {
      var v = e.target.value.trim();
      update(function (st) { st.max_params = (v !== "" && Number(v) > 0) ? Number(v) : null; }, "max_params");
    });
    $("name").addEventListener("change", function (e) {
      var notes = [];
      var globs = list(e.target.value, "name", notes, true);
      update(function (st) { st.name = globs; }, null, notes);
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
    $("marker").addEventListener("change", function (e) { update(function (st) { st.marker = e.target.value; }); });
    $("col-toggles").addEventListener("change", function (e) {
      var f = e.target.getAttribute("data-col");
      if (!f) return;
      var show = e.target.checked;
      update(function (st) {
        st.hide = st.hide.filter(function (c) { return c !== f; });
        if (!show) st.hide.push(f);
      });
    });
    $("reset").addEventListener("click", function () { uiNotes = []; setState(defaultState()); });
    $("download").addEventListener("click", function () { saveText(rankingCsv(view), "quba-ranking-" + state.suite + ".csv"); });
    if ($("repro")) {
      $("repro").addEventListener("click", function (e) {
        var b = e.target.closest("button[data-repro-csv]");
        if (b) saveText(reproCsv(reproReports()[Number(b.getAttribute("data-repro-csv"))]),
          "quba-reproduction-" + state.suite + ".csv");
      });
    }
    $("ranking").addEventListener("click", function (e) {
      var sb = e.target.closest("button[data-sort]");
      if (sb) {
        var col = sb.getAttribute("data-sort");
        update(function (st) {
          var cur = st.sort || { col: "rank", desc: false };
          if (cur.col === col) st.sort = { col: col, desc: !cur.desc };
          else st.sort = { col: col, desc: col === "quba" || (!!DIMS[col] && hib(col)) };
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
    $("copy-bibtex").addEventListener("click", copyBibtex);
    document.addEventListener("click", function (e) {
      var a = e.target.closest("a[data-jump]");
      if (!a) return;
      e.preventDefault();  // a section is not a view: keep the address
      jump($(a.getAttribute("data-jump")));
    });
    window.addEventListener("hashchange", loadFromHash);
    window.addEventListener("popstate", loadFromHash);
    var mq = window.matchMedia ? window.matchMedia(NARROW) : null;
    if (mq && mq.addEventListener) mq.addEventListener("change", function () { if (plotly) render(); });
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

  function copyBibtex() {
    var pre = $("bibtex"), out = $("copy-status");
    var select = function () {
      var r = document.createRange();
      r.selectNodeContents(pre);
      var s = window.getSelection();
      s.removeAllRanges();
      s.addRange(r);
      out.textContent = "selected: copy it with Ctrl+C (\u2318C)";
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(pre.textContent).then(function () { out.textContent = "copied"; }, select);
    } else select();
  }

  // ------------------------------------------------------------------ keeping focus through a re-render
  /** The focused element and its stable key (data-focus) before a section is redrawn... */
  function focusedKey() {
    var a = document.activeElement;
    return a && a !== document.body ? { el: a, key: a.getAttribute("data-focus") } : null;
  }

  /** ...and the same control focused again afterwards if the redraw replaced it. */
  function restoreFocus(f) {
    if (!f || !f.key || document.documentElement.contains(f.el)) return;
    var all = document.querySelectorAll("[data-focus]");
    for (var k = 0; k < all.length; k++) {
      if (all[k].getAttribute("data-focus") === f.key) { all[k].focus({ preventScroll: true }); return; }
    }
  }

  // ------------------------------------------------------------------ rendering
  function plotColors() {
    var cs = getComputedStyle(document.documentElement);
    return { fg: cs.getPropertyValue("--fg").trim(), grid: cs.getPropertyValue("--grid").trim(),
      user: cs.getPropertyValue("--user").trim(), bg: cs.getPropertyValue("--bg").trim() };
  }

  /** value -> colour or symbol for a metadata column: colours by name; symbols by frequency (the commonest
   * value gets the plainest shape). */
  function categoryMap(S, col, palette) {
    var m = {};
    if (S.metadata.indexOf(col) < 0) return m;
    var values = uniqueSorted(S, col);
    if (palette === SYMBOLS) {
      var n = {};
      S.rows[col].forEach(function (v) { if (v !== null) n[v] = (n[v] || 0) + 1; });
      values.sort(function (a, b) { return n[b] - n[a] || cmpStr(a, b); });
    }
    values.forEach(function (v, k) { m[v] = palette[k % palette.length]; });
    return m;
  }

  function isNarrow(el) { return (el ? el.clientWidth : window.innerWidth) < 600; }

  var PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  /** Draw a plot once Plotly has run (loadPlotly draws everything again then); the placeholder goes. Every
   * layout keeps a top margin of 40 px or more: Plotly's mode bar sits there and covers nothing. */
  function drawPlot(el, traces, layout) {
    if (!plotly) return false;
    var wait = el.querySelector(".loading");
    if (wait) wait.remove();
    plotly.react(el, traces, layout, PLOT_CONFIG);
    return true;
  }

  /** The hint for a group of not-ranked models (score.remedy_hint, in the page's words). */
  function remedyHint(remedies) {
    var counts = new Map();
    remedies.forEach(function (r) { counts.set(r, (counts.get(r) || 0) + 1); });
    if (counts.size === 1) return DATA.remedies[remedies[0]];
    var out = [];
    counts.forEach(function (n, r) { out.push(n + ": " + DATA.remedies[r]); });
    return out.join("; ");
  }

  function metaCols(S) { return metaPresent(S).filter(function (f) { return state.hide.indexOf(f) < 0; }); }

  function renderTable(S, v) {
    var dims = S.dims;
    var meta = metaCols(S);
    var marker = markerOf(S);
    var colors = categoryMap(S, "architecture", PALETTE), symbols = categoryMap(S, marker, SYMBOLS);
    var multi = new Set(v.ranked.map(function (r) { return S.rows.leaderboard[r.i]; })).size > 1;
    var sort = state.sort || { col: "rank", desc: false };
    var rows = v.ranked.slice();
    if (state.sort) {
      var col = sort.col, sgn = sort.desc ? -1 : 1;
      var text = col === "model" || METADATA.indexOf(col) >= 0;
      var val = function (r) {
        if (col === "rank") return r.rank;
        if (col === "quba") return r.quba;
        if (col === "model") return r.model;
        if (text) return S.rows[col] ? S.rows[col][r.i] : null;
        return S.values[col] ? S.values[col][r.i] : null;
      };
      rows.sort(function (a, b) {
        var x = val(a), y = val(b);
        if (x === null && y === null) return a.rank - b.rank;
        if (x === null) return 1;
        if (y === null) return -1;
        return sgn * (text ? cmpStr(x, y) : x - y) || a.rank - b.rank;
      });
    }
    var th = function (col, label, tip, cls) {
      var aria = sort.col === col ? (sort.desc ? "descending" : "ascending") : "none";
      return '<th scope="col"' + (cls ? ' class="' + cls + '"' : "") + ' aria-sort="' + aria + '"><button type="button" data-sort="' +
        esc(col) + '" data-focus="sort:' + esc(col) + '" title="' + esc(tip) + '">' + esc(label) + (sort.col === col ? (sort.desc ? " \u25bc" : " \u25b2") : "") + "</button></th>";
    };
    var head = "<thead><tr>" + th("rank", "rank", "sort by rank", "c-rank") + th("model", "model", "sort by name", "c-model") +
      th("quba", "QUBA", "QUBA score (units of reference standard deviations); * = renormalised", "c-quba") +
      (multi ? '<th scope="col">leaderboard</th>' : "") +
      meta.map(function (f) { return th(f, META_TITLE[f], "sort by " + META_TITLE[f], "meta"); }).join("") +
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
      var metaCells = meta.map(function (f) {
        var t = S.rows[f][i];
        if (t === null) return '<td class="meta na">-</td>';
        var mark = f === "architecture" && colors[t] ? '<span class="swatch" style="background:' + colors[t] + '"></span>' :
          f === marker && symbols[t] ? '<span class="glyph" aria-hidden="true">' + GLYPHS[symbols[t]] + "</span> " : "";
        return '<td class="meta" data-meta="' + f + '" title="' + esc(t) + '">' + mark + esc(t) + "</td>";
      }).join("");
      var lb = S.rows.leaderboard[i];
      var cls = (isUser(S, i) ? "user" : "") + (sel.has(key) ? " selected" : "");
      return '<tr data-model="' + esc(r.model) + '" data-quba="' + pyRepr(r.quba) + '" data-rank="' + r.rank +
        '" data-leaderboard="' + esc(lb) + '"' + (cls ? ' class="' + cls.trim() + '"' : "") + ">" +
        '<td class="c-rank">' + r.rank + '</td><td class="c-model"><button type="button" data-key="' + esc(key) +
        '" data-focus="row:' + esc(key) + '" aria-pressed="' + sel.has(key) + '" title="' + esc(r.model) +
        ': show details (choose up to 3 to compare)">' + esc(r.model) + "</button></td>" +
        '<td class="c-quba">' + r.quba.toFixed(3) + (r.renormalised ? "*" : "") + "</td>" +
        (multi ? "<td>" + esc(lb.split("/").pop()) + "</td>" : "") + metaCells + cells + "</tr>";
    }).join("");
    $("ranking").innerHTML = head + "<tbody>" + body + "</tbody>";
    // Rank, model and QUBA stay at the left while the rest scrolls under them: the model column is as wide as
    // the longest name shown, in ch (report.css caps it), so no layout is forced here to measure it.
    var longest = rows.reduce(function (n, r) { return Math.max(n, r.model.length + (isUser(S, r.i) ? 3 : 0)); }, 5);
    $("table-wrap").style.setProperty("--model-ch", longest + "ch");
    $("ranking-summary").innerHTML = "<b>" + v.ranked.length + "</b> of " + v.candidates.length + " candidates ranked (" + S.n +
      " models in suite " + esc(state.suite) + "); weights " + esc(v.weights.map(function (t) { return shortName(t[0]) + " " + (+t[1].toPrecision(4)); }).join(", ")) +
      (state.renormalise ? "; * = renormalised over the weighted dimensions present" : "") +
      '. <span class="aside">QUBA is in reference standard deviations (<a href="#howto-section" data-jump="howto-section">how to ' +
      "read this</a>); hover a value for its interval and z.</span>";
    renderNotRanked(S, v);
  }

  function renderNotRanked(S, v) {
    var groups = new Map();
    v.excluded.forEach(function (e) { if (!groups.has(e.reason)) groups.set(e.reason, []); groups.get(e.reason).push(e); });
    var html = [];
    var remedies = new Set();
    groups.forEach(function (es, reason) {
      var hint = remedyHint(es.map(function (e) { return e.remedy; }));
      es.forEach(function (e) { remedies.add(e.remedy); });
      html.push('<div class="nr-group" data-reason="' + esc(reason) + '"><p><b>' + esc(reason) + "</b> (" + es.length + ') <span class="hint">' +
        esc(hint) + '</span></p><ul>' + es.map(function (e) {
          return '<li data-model="' + esc(e.model) + '" data-reason="' + esc(reason) + '" data-remedy="' + esc(e.remedy) + '">' + esc(e.model) + "</li>";
        }).join("") + "</ul></div>");
    });
    $("not-ranked").innerHTML = html.join("");
    $("not-ranked-box").hidden = !v.excluded.length;
    var one = remedies.size === 1 ? DATA.remedies[remedies.values().next().value] : "";
    $("not-ranked-summary").textContent = "Not ranked: " + v.excluded.length +
      (one ? " (" + one + ")" : v.excluded.length ? " (open for why, and what would rank them)" : "");
  }

  /** A point's hover: every dimension (with its interval), QUBA and rank, the metadata and the model's paper. */
  function pointText(S, i, r, ex) {
    var meta = METADATA.filter(function (f) { return S.metadata.indexOf(f) >= 0 && S.rows[f][i]; })
      .map(function (f) { return esc(S.rows[f][i]); }).join(" \u00b7 ");
    var paper = S.rows.paper_title && S.rows.paper_title[i];
    if (paper && paper.length > 70) paper = paper.slice(0, 68) + "\u2026";
    var lines = ["<b>" + esc(S.rows.model[i]) + "</b>" + (isUser(S, i) ? " (yours)" : "")];
    if (meta) lines.push(meta);
    if (paper) lines.push("<i>" + esc(paper) + "</i>");
    lines.push("<b>QUBA " + (r ? fmtSigned(r.quba, 3) + (r.renormalised ? "*" : "") + "</b> (rank " + r.rank + ")" :
      "</b>not ranked" + (ex ? ": " + esc(ex.reason) : "")));
    S.dims.forEach(function (d) {
      var x = S.values[d][i], b = S.bounds[d];
      lines.push(esc(title(d) + arrow(d)) + " " + fmtValue(d, x) + (hasCI(b, i) ? " [" + fmtValue(d, b.lo[i]) + ", " + fmtValue(d, b.hi[i]) + "]" : ""));
    });
    return lines.join("<br>");
  }

  /** Axis ranges that filters and selections do not move: the suite's whole range (QUBA: of every model
   * scored with these weights, renormalised), intervals included, 4% to spare. */
  function fixedRange(S, d) {
    var lo = Infinity, hi = -Infinity;
    var take = function (x) { if (finite(x)) { lo = Math.min(lo, x); hi = Math.max(hi, x); } };
    if (d === "quba") {
      var st = cloneState(state);
      METADATA.forEach(function (f) { st[f] = []; });
      st.name = []; st.max_params = null; st.exclude_missing = false; st.renormalise = true;
      compute(st).ranked.forEach(function (r) { take(r.quba); });
    } else {
      S.values[d].forEach(take);
      if (S.bounds[d]) { S.bounds[d].lo.forEach(take); S.bounds[d].hi.forEach(take); }
    }
    if (!(hi >= lo)) return undefined;
    if (d === "parameters_m") {
      if (!(lo > 0)) return undefined;
      lo = Math.log10(lo); hi = Math.log10(hi);  // Plotly's log axes take log10 ranges
    }
    var pad = (hi - lo) * 0.04 || 0.5;
    return [lo - pad, hi + pad];
  }

  var scatterBound = false;

  function renderScatter(S, v) {
    var xd = axisOf(S, "x"), yd = axisOf(S, "y");
    var byI = {}, exByI = {};
    v.ranked.forEach(function (r) { byI[r.i] = r; });
    v.excluded.forEach(function (e) { exByI[e.i] = e; });
    var val = function (d, i) { return d === "quba" ? (byI[i] ? byI[i].quba : null) : S.values[d][i]; };
    var marker = markerOf(S);
    var colors = categoryMap(S, "architecture", PALETTE);
    var symbols = marker === "none" ? {} : categoryMap(S, marker, SYMBOLS);
    var sel = new Set(state.sel);
    var groups = new Map();
    var shown = 0, userShown = 0;
    v.candidates.forEach(function (i) {
      var x = val(xd, i), y = val(yd, i);
      if (x === null || y === null) return;
      shown++;
      if (isUser(S, i)) userShown++;
      var arch = S.metadata.indexOf("architecture") >= 0 ? (S.rows.architecture[i] || "unknown") : "models";
      if (!groups.has(arch)) groups.set(arch, []);
      groups.get(arch).push(i);
    });
    var hasBars = !!(S.bounds[xd] || S.bounds[yd]);
    $("scatter-note").textContent = shown + " of " + v.candidates.length + " candidates have both values. Colour: architecture" +
      (marker !== "none" ? "; shape: " + META_TITLE[marker] : "") +
      (userShown ? "; larger outlined markers: your results (" + userShown + ")" : "") +
      (hasBars ? "; bars: 95% intervals" : "") + ". Hover a point for all its values; click it to compare.";
    if (!plotly) return;
    var pc = plotColors();
    var narrow = isNarrow($("scatter"));
    var err = function (d, idx) {
      var b = S.bounds[d];
      if (d === "quba" || !b) return undefined;
      return { type: "data", symmetric: false, visible: true, thickness: 1, width: 0, color: pc.grid,
        array: [0].concat(idx.map(function (i) { return b.hi[i] === null ? 0 : b.hi[i] - S.values[d][i]; })),
        arrayminus: [0].concat(idx.map(function (i) { return b.lo[i] === null ? 0 : S.values[d][i] - b.lo[i]; })) };
    };
    var big = function (i) { return isUser(S, i) || sel.has(rowKey(S, i)); };
    var traces = [];
    // Each trace starts with an undrawn point (null x, y) in a plain circle: Plotly's legend draws a trace's
    // first point, so the colour entries show no shape of their own.
    var head = function (first, f) { return function (idx) { return [first].concat(idx.map(f)); }; };
    groups.forEach(function (idx, arch) {
      traces.push({
        type: "scatter", mode: "markers", name: esc(arch), legendgroup: "arch", legendgrouptitle: { text: "architecture" },
        x: head(null, function (i) { return val(xd, i); })(idx), y: head(null, function (i) { return val(yd, i); })(idx),
        error_x: err(xd, idx), error_y: err(yd, idx),
        customdata: head(null, function (i) { return rowKey(S, i); })(idx),
        text: head("", function (i) { return pointText(S, i, byI[i], exByI[i]); })(idx), hoverinfo: "text",
        hoverlabel: { align: "left", bgcolor: pc.bg, bordercolor: colors[arch] || PALETTE[0], font: { color: pc.fg } },
        marker: {
          color: colors[arch] || PALETTE[0],
          symbol: head("circle", function (i) { var p = S.rows[marker]; return (p && symbols[p[i]]) || "circle"; })(idx),
          size: head(9, function (i) { return sel.has(rowKey(S, i)) ? 16 : isUser(S, i) ? 13 : 8; })(idx),
          opacity: head(1, function (i) { return big(i) ? 1 : 0.7; })(idx),
          line: { color: head("rgba(0,0,0,0)", function (i) { return big(i) ? pc.fg : "rgba(0,0,0,0)"; })(idx),
            width: head(0, function (i) { return big(i) ? 2 : 0; })(idx) }
        }
      });
    });
    Object.keys(symbols).forEach(function (p) {
      traces.push({ type: "scatter", mode: "markers", x: [null], y: [null], name: esc(p), legendgroup: "shape",
        legendgrouptitle: { text: esc(META_TITLE[marker]) }, hoverinfo: "skip",
        marker: { symbol: symbols[p], color: pc.fg, size: 8 } });
    });
    if (userShown && userShown < shown) {
      traces.push({ type: "scatter", mode: "markers", x: [null], y: [null], name: "your results", legendgroup: "user",
        hoverinfo: "skip", marker: { symbol: "circle", color: "rgba(0,0,0,0)", size: 13, line: { color: pc.fg, width: 2 } } });
    }
    var axis = function (d) {
      var a = { title: { text: esc(title(d) + arrow(d)) }, gridcolor: pc.grid, zerolinecolor: pc.grid,
        type: d === "parameters_m" ? "log" : "linear", automargin: true };
      var r = state.fixed ? fixedRange(S, d) : undefined;
      if (r) { a.range = r; a.autorange = false; } else a.autorange = true;
      return a;
    };
    var layout = {
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: pc.fg }, hovermode: "closest",
      xaxis: axis(xd), yaxis: axis(yd), uirevision: xd + "|" + yd + "|" + state.fixed,
      margin: narrow ? { l: 50, r: 8, t: 40, b: 40 } : { l: 60, r: 10, t: 40, b: 50 },
      legend: narrow ? { orientation: "h", x: 0, xanchor: "left", yref: "container", y: 0, yanchor: "bottom", groupclick: "toggleitem",
        font: { size: 11 } }
        : { x: 1.02, xanchor: "left", y: 1, yanchor: "top", groupclick: "toggleitem" },
      height: narrow ? 640 : 480
    };
    var el = $("scatter");
    drawPlot(el, traces, layout);
    if (!scatterBound && el.on) {
      scatterBound = true;
      el.on("plotly_click", function (ev) {  // a point is chosen as a table row is
        var pt = ev && ev.points && ev.points[0];
        if (pt && typeof pt.customdata === "string") toggleSelected(pt.customdata);
      });
    }
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
    if (missingSel.length) v.notes.push("no model " + missingSel.map(function (k) { return "'" + clip(k) + "'"; }).join(", ") + " in suite " + state.suite + "; not shown");
    $("detail").innerHTML = keys.map(function (key, n) {
      var i = findRow(S, key), r = byI[i];
      var sw = strengths(S, i);
      var status = r ? "QUBA " + fmtSigned(r.quba, 3) + (r.renormalised ? "*" : "") + ", rank " + r.rank + " of " + v.ranked.length
        : exByI[i] ? "not ranked: " + exByI[i].reason : cands.has(i) ? "not ranked" : "filtered out";
      var meta = METADATA.concat(["paper_title", "source"]).filter(function (f) { return S.rows[f] && S.rows[f][i]; })
        .map(function (f) { return esc(S.rows[f][i]); }).join(" \u00b7 ");
      var names = function (xs) {
        return xs.length ? xs.map(function (t) { return esc(title(t[0])) + " " + fmtSigned(t[1], 2); }).join(", ") : "none at 1 sd";
      };
      var rows = S.dims.map(function (d) {
        var x = S.values[d][i], b = S.bounds[d], z = zOf(S, d, i);
        return "<tr><th scope=\"row\" class=\"c-model\">" + esc(shortName(d) + arrow(d)) + "</th><td>" + fmtValue(d, x) +
          (hasCI(b, i) ? ' <span class="ci">[' + fmtValue(d, b.lo[i]) + ", " + fmtValue(d, b.hi[i]) + "]</span>" : "") +
          "</td><td>" + (finite(z) ? fmtSigned(z, 2) : "-") + "</td></tr>";
      }).join("");
      return '<article class="model-card" data-model="' + esc(S.rows.model[i]) + '"><h3><span><span class="swatch" style="background:' +
        PALETTE[n] + '"></span>' + esc(S.rows.model[i]) + (isUser(S, i) ? " (yours)" : "") + '</span><button type="button" data-remove="' + esc(key) +
        '" data-focus="remove:' + esc(key) + '" aria-label="remove ' + esc(S.rows.model[i]) + ' from the comparison">\u00d7</button></h3>' +
        '<p class="small">' + esc(status) + (meta ? "<br>" + meta : "") + "</p>" +
        '<p class="small"><b>Strengths:</b> <span class="strengths">' + names(sw.strong) + '</span><br><b>Weaknesses:</b> <span class="weaknesses">' +
        names(sw.weak) + "</span></p>" +
        '<table><thead><tr><th scope="col" class="c-model">dim</th><th scope="col">value [95% CI]</th><th scope="col">z</th></tr></thead><tbody>' +
        rows + "</tbody></table></article>";
    }).join("");
    var radar = $("radar");
    if (!keys.length) {
      if (plotly) plotly.purge(radar);
      radar.innerHTML = "";
      radar.style.minHeight = "0";
      return;
    }
    radar.style.minHeight = "380px";
    if (!plotly) {
      if (!radar.querySelector(".loading")) radar.innerHTML = '<div class="loading" role="status"><span class="spinner" aria-hidden="true"></span>Drawing the plots\u2026</div>';
      return;
    }
    var pc = plotColors();
    var narrow = isNarrow(radar);
    var theta = S.dims.map(function (d) { return esc((narrow ? shortName(d) : title(d)) + arrow(d)); });
    var traces = keys.map(function (key, n) {
      var i = findRow(S, key);
      var r = S.dims.map(function (d) { var z = zOf(S, d, i); return finite(z) ? Math.max(-3, Math.min(3, z)) : null; });
      return { type: "scatterpolar", r: r.concat([r[0]]), theta: theta.concat([theta[0]]), name: esc(S.rows.model[i]), fill: "toself",
        opacity: 0.6, line: { color: PALETTE[n] }, hovertemplate: "%{theta}: z %{r:.2f}<extra>%{fullData.name}</extra>" };
    });
    traces.push({ type: "scatterpolar", mode: "lines", r: theta.map(function () { return 0; }).concat([0]), theta: theta.concat([theta[0]]),
      name: "reference mean (z = 0)", line: { color: pc.grid, dash: "dash" }, hoverinfo: "skip" });
    drawPlot(radar, traces, {
      paper_bgcolor: "rgba(0,0,0,0)", font: { color: pc.fg, size: narrow ? 10 : 12 }, height: narrow ? 440 : 420,
      margin: narrow ? { l: 52, r: 52, t: 40, b: 20 } : { l: 80, r: 80, t: 40, b: 30 },
      legend: narrow ? { orientation: "h", x: 0, y: -0.08, yanchor: "top" } : { x: 1.02, y: 1, yanchor: "top" },
      polar: { bgcolor: "rgba(0,0,0,0)", radialaxis: { range: [-3, 3], gridcolor: pc.grid, tickvals: [-2, -1, 0, 1, 2], angle: 90, tickfont: { size: 9 } },
        angularaxis: { gridcolor: pc.grid } }
    });
  }

  function renderHeatmap(S, v) {
    var notes = [];
    var rows = applyFilters(S, state, notes, false);
    var dims = S.dims;
    v.correlation = null;
    if (rows.length < 3 || dims.length < 2) {
      $("corr-note").textContent = "Correlation needs at least 3 models and 2 dimensions; " + rows.length + " models pass the filters.";
      $("corr-list").innerHTML = "";
      if (plotly) plotly.purge($("heatmap"));
      return;
    }
    var pairs = spearmanPairs(S, rows, dims, state.oriented);
    v.correlation = pairs;
    var look = {};
    pairs.forEach(function (p) { look[p.dim_a + "|" + p.dim_b] = look[p.dim_b + "|" + p.dim_a] = p; });
    var fmtP = function (p) { return finite(p) ? p.toPrecision(3) : "-"; };
    // The list view: every pair, strongest first (readable at any width, and by a screen reader).
    var sorted = pairs.slice().sort(function (a, b) {
      var x = finite(a.rho) ? Math.abs(a.rho) : -1, y = finite(b.rho) ? Math.abs(b.rho) : -1;
      return y - x;
    });
    $("corr-list").innerHTML = '<thead><tr><th scope="col" class="c-model">dimensions</th><th scope="col">\u03c1</th><th scope="col">p</th>' +
      '<th scope="col">n</th></tr></thead><tbody>' + sorted.map(function (p) {
        return '<tr data-pair="' + esc(p.dim_a + "|" + p.dim_b) + '"><td class="c-model">' + esc(shortName(p.dim_a) + " \u00d7 " + shortName(p.dim_b)) + "</td><td>" +
          (finite(p.rho) ? fmtSigned(p.rho, 2) : "-") + "</td><td>" + fmtP(p.p_value) + "</td><td>" + p.n + "</td></tr>";
      }).join("") + "</tbody>";
    $("corr-note").textContent = "Spearman \u03c1 (pairwise-complete rows; scipy.stats.spearmanr, as quba correlate) over the " +
      rows.length + " models passing the filters" + (state.oriented ? ", oriented" : ", raw values") + ". Hover for p-value and n.";
    if (!plotly) return;
    var z = [], text = [];
    dims.forEach(function (a) {
      var zr = [], tr = [];
      dims.forEach(function (b) {
        if (a === b) { zr.push(1); tr.push("1"); return; }
        var p = look[a + "|" + b];
        zr.push(finite(p.rho) ? p.rho : null);
        tr.push(finite(p.rho) ? p.rho.toFixed(2).replace(/^(-?)0\./, "$1.") : "-");
      });
      z.push(zr); text.push(tr);
    });
    var hover = dims.map(function (a) {
      return dims.map(function (b) {
        if (a === b) return esc(title(a));
        var p = look[a + "|" + b];
        return esc(title(a) + " vs " + title(b)) + "<br>\u03c1 = " + (finite(p.rho) ? p.rho.toFixed(3) : "-") + ", p = " + fmtP(p.p_value) + ", n = " + p.n;
      });
    });
    var pc = plotColors();
    var el = $("heatmap");
    var narrow = isNarrow(el);
    var labels = dims.map(shortName);
    drawPlot(el, [{ type: "heatmap", z: z, x: labels, y: labels, text: text, texttemplate: "%{text}", customdata: hover,
      textfont: { size: narrow ? 10 : 12 }, hovertemplate: "%{customdata}<extra></extra>", zmin: -1, zmax: 1, colorscale: "RdBu",
      colorbar: narrow ? { title: { text: "\u03c1", side: "right" }, orientation: "h", x: 0.5, xanchor: "center", y: -0.22, yanchor: "top",
        thickness: 12, len: 0.9 } : { title: { text: "\u03c1" } } }],
      { paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: pc.fg }, height: narrow ? 460 : 480,
        margin: narrow ? { l: 56, r: 6, t: 40, b: 60 } : { l: 70, r: 10, t: 40, b: 70 }, yaxis: { autorange: "reversed" },
        xaxis: { tickangle: narrow ? -60 : "auto" } });
  }

  function renderNotices(notes) {
    var groups = new Map();
    notes.forEach(function (n) {
      var g = typeof n === "string" ? "=" + n : n.g;
      if (!groups.has(g)) groups.set(g, typeof n === "string" ? { text: n } : { head: n.head, items: [] });
      if (typeof n !== "string") groups.get(g).items.push(n.item);
    });
    var texts = [];
    groups.forEach(function (o) {
      if (o.text !== undefined) { texts.push(o.text); return; }
      var shown = o.items.slice(0, 5).join(", ") + (o.items.length > 5 ? " and " + (o.items.length - 5).toLocaleString("en") + " more" : "");
      texts.push(o.head.replace("{}", function () { return shown; }));
    });
    var p = function (t) {
      if (t.length > LIMITS.noticeChars) t = t.slice(0, LIMITS.noticeChars - 1) + "\u2026";
      return '<p class="notice">' + esc(t) + "</p>";
    };
    var html = texts.slice(0, LIMITS.notices).map(p).join("");
    if (texts.length > LIMITS.notices) {
      html += '<details class="more-notices"><summary>' + (texts.length - LIMITS.notices) + " more notices</summary>" +
        texts.slice(LIMITS.notices, 100).map(p).join("") + "</details>";
    }
    $("notices").innerHTML = html;
  }

  // ------------------------------------------------------------------ reproduction (quba reproduce)
  /* DATA.reproduction = {suite: [report]}: per records folder given, the dict of
   * quba.ranking.reproduction.reproduce (rows, summary, unmatched, against, records), or {records, error}.
   * The rows are drawn as they are: the numbers are Python's, the text mirrors rows_table, the CSV rows_csv. */
  var REPRO_CSV_COLUMNS = ["model", "dimension", "fresh", "lo", "hi", "published", "difference", "inside",
    "like_for_like", "notes"];

  /** Python's f"{x:.Ng}" for the few cases rows_table meets (trailing zeros dropped, exponent of 2 digits). */
  function pyG(x, digits) {
    var s = x.toPrecision(digits);
    if (s.indexOf("e") >= 0) {
      var m = s.match(/^(-?[\d.]+)e([+-])(\d+)$/);
      var mant = m[1].indexOf(".") >= 0 ? m[1].replace(/0+$/, "").replace(/\.$/, "") : m[1];
      return mant + "e" + m[2] + (m[3].length < 2 ? "0" + m[3] : m[3]);
    }
    return s.indexOf(".") >= 0 ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
  }

  function pyE(x, digits) {
    var m = x.toExponential(digits).match(/^(-?[\d.]+)e([+-])(\d+)$/);
    return m[1] + "e" + m[2] + (m[3].length < 2 ? "0" + m[3] : m[3]);
  }

  /** A value as rows_table prints it (quba/ranking/reproduction.py: _num). */
  function reproNum(x, d) {
    if (!finite(x)) return "\u2014";
    if (d === "parameters_m" || Math.abs(x) >= 100) return Math.abs(x) >= 1 || x === 0 ? x.toFixed(1) : pyG(x, 3);
    return Math.abs(x) >= 1e-3 || x === 0 ? x.toFixed(4) : pyE(x, 2);
  }

  /** fresh - published as rows_table prints it (_diff: the published precision, never -0). */
  function reproDiff(x, d) {
    if (!finite(x)) return "\u2014";
    var places = d === "parameters_m" || Math.abs(x) >= 100 ? 1 : 4;
    var t = Math.abs(x).toFixed(places);
    return (x < 0 && Number(t) !== 0 ? "-" : "+") + t;
  }

  function yesNo(v) { return v === null || v === undefined ? "\u2014" : (v ? "yes" : "no"); }
  function pyBool(v) { return v === null || v === undefined ? "" : (v ? "True" : "False"); }

  /** The rows of one report as `quba reproduce --format csv` writes them (reproduction.rows_csv). */
  function reproCsv(rep) {
    var lines = [REPRO_CSV_COLUMNS.join(",")];
    rep.rows.forEach(function (r) {
      lines.push([csvText(r.model), csvText(r.dimension), csvNum(r.fresh), csvNum(r.lo), csvNum(r.hi),
        csvNum(r.published), csvNum(r.difference), pyBool(r.inside), pyBool(r.like_for_like),
        csvText(r.notes.join("; "))].join(","));
    });
    return lines.join("\n") + "\n";
  }

  function reproReports() { return (DATA.reproduction || {})[state.suite] || []; }

  function renderReproduction() {
    var el = $("repro");
    if (!el || el.getAttribute("data-suite") === state.suite) return;  // left out, or drawn for this suite already
    el.setAttribute("data-suite", state.suite);
    var reports = reproReports();
    var labels = reports.filter(function (r) { return !r.error; }).map(function (r) { return r.against; });
    var label = labels.length && labels.every(function (l) { return l === labels[0]; }) ? labels[0] : "paper";
    $("h-repro").textContent = "Reproduction against " + (label === "paper" ? "the paper" : label);
    if (!reports.length) {
      el.innerHTML = '<p class="repro-summary">No model of suite ' + esc(state.suite) + " has a row in its published " +
        "leaderboard: no records beside the leaderboards given for it are of a published model (quba reproduce " +
        "compares the records under &lt;output&gt;/" + esc(state.suite) + "/records/).</p>";
      return;
    }
    el.innerHTML = reports.map(function (rep, k) {
      var head = '<div class="repro-block" data-records="' + esc(rep.records) + '"><h3>Records: ' + esc(rep.records) +
        "</h3>";
      if (rep.error) return head + '<p class="repro-summary">Not compared: ' + esc(rep.error) + "</p></div>";
      var pub = rep.against === "paper" ? "paper" : "published";
      var body = '<div class="table-wrap short"><table class="repro"><thead><tr><th scope="col" class="c-model">model</th>' +
        '<th scope="col" class="c-dim">dimension</th><th scope="col">fresh</th><th scope="col">95% CI</th>' +
        '<th scope="col">' + pub + '</th><th scope="col">difference</th><th scope="col">inside</th>' +
        '<th scope="col" class="notes">notes</th></tr></thead><tbody>' +
        rep.rows.map(function (r) {
          var d = r.dimension;
          var ci = finite(r.lo) && finite(r.hi) ? "[" + reproNum(r.lo, d) + ", " + reproNum(r.hi, d) + "]" : "\u2014";
          var attrs = [["model", r.model], ["dimension", d], ["fresh", csvNum(r.fresh)], ["lo", csvNum(r.lo)],
            ["hi", csvNum(r.hi)], ["published", csvNum(r.published)], ["difference", csvNum(r.difference)],
            ["inside", pyBool(r.inside)], ["like", pyBool(r.like_for_like)]].map(function (a) {
            return " data-" + a[0] + '="' + esc(a[1]) + '"';
          }).join("");
          return "<tr" + attrs + (r.like_for_like ? "" : ' class="unlike"') + '><td class="c-model">' + esc(r.model) +
            '</td><td class="c-dim">' + esc(d + arrow(d)) + "</td><td>" + reproNum(r.fresh, d) + '</td><td class="ci">' +
            ci + "</td><td>" + reproNum(r.published, d) + "</td><td>" + reproDiff(r.difference, d) +
            '</td><td class="inside">' + yesNo(r.inside) + '</td><td class="notes">' +
            (r.notes.length ? esc(r.notes.join("; ")) : "like for like") + "</td></tr>";
        }).join("") + "</tbody></table></div>";
      var foot = '<p class="repro-summary">' + esc(rep.summary.line) + "</p>";
      if (rep.unmatched.length) {
        foot += '<p class="muted small">Without a row: ' + esc(rep.unmatched.join(", ")) + "</p>";
      }
      if (rep.rows.some(function (r) { return r.inside === null; })) {
        foot += '<p class="muted small">inside \u2014: no 95% interval (evaluated with --bootstrap 0) or no published value</p>';
      }
      var button = '<button type="button" data-repro-csv="' + k + '">Download reproduction (CSV)</button>';
      return head + body + foot + button + "</div>";
    }).join("");
  }

  // ------------------------------------------------------------------ sections
  /* The page's sections, drawn in this order on every change; one that fails leaves the others working and
   * says so in a notice. To add a section (the reproduction, drawn by renderReproduction, is one):
   *   1. its data: a new top-level key of report_data() in quba/report/html.py (DATA.<key> here);
   *   2. its place: <section class="card" id="…-section" data-nav="Short name" tabindex="-1"> in report.html
   *      (the header's nav gets the link from data-nav), with a <div class="plot"> for any plot;
   *   3. its drawing: a function (S, view) here, listed below: S is the suite's data, view the computed
   *      ranking (view.ranked, .excluded, .candidates, .weights); plots through drawPlot, which waits for
   *      Plotly (deferred) by itself; a new address key in STATE_KEYS, parseHash and stateToHash. */
  var SECTIONS = [
    { id: "ranking-section", render: renderTable },
    { id: "detail-section", render: renderDetail, plots: true },
    { id: "scatter-section", render: renderScatter, plots: true },
    { id: "corr-section", render: renderHeatmap, plots: true },
    { id: "repro-section", render: renderReproduction }
  ];

  /** Draw the page from `state` (plotsOnly: the sections with plots only, when Plotly has just run). */
  function render(plotsOnly) {
    var S = DATA.suites[state.suite];
    var eff = effectiveWeights(state);
    view = compute(state);
    if (builtFor !== S) buildControls(S);
    if (plotsOnly !== true) syncControls(S, eff);
    var extra = [];
    var focus = focusedKey();
    SECTIONS.forEach(function (sec) {
      if (plotsOnly === true && !sec.plots) return;
      try { sec.render(S, view); } catch (e) {
        extra.push("the " + ($(sec.id).getAttribute("data-nav") || sec.id) + " section failed: " + e.message);
      }
    });
    restoreFocus(focus);
    if (!plotly && plotlyChecked) extra.push("Plotly is missing from this file, so the plots are not drawn; the table works.");
    renderNotices(linkNotes.concat(uiNotes, view.notes, extra));
    window.quba.view = view;
    window.quba.state = state;
  }

  window.quba = {
    data: DATA, pyRepr: pyRepr, parseHash: parseHash, stateToHash: stateToHash, csv: function () { return rankingCsv(view); },
    correlation: function () { return view.correlation; },
    reproductionCsv: function (k) { return reproCsv(reproReports()[k || 0]); },
    hash: function () { return stateToHash(state); },
    globMatch: function (glob, name) { return globMatch(compileGlob(glob), name); }
  };

  /** Run Plotly's inlined text (report.html) and draw the plots; data-ready then marks the page complete. */
  function loadPlotly() {
    if (plotlyChecked) return;
    window.quba.plotsStartMs = performance.now();  // since navigation start
    var src = $("plotly-js");
    if (typeof window.Plotly === "undefined" && src && src.textContent.trim()) {
      var s = document.createElement("script");
      s.textContent = src.textContent;
      src.remove();
      document.head.appendChild(s);  // parsed and run here, synchronously
    }
    plotly = typeof window.Plotly !== "undefined" ? window.Plotly : null;
    plotlyChecked = true;
    if (!plotly) {
      Array.prototype.forEach.call(document.querySelectorAll(".plot .loading"), function (el) {
        el.textContent = "The plots are not drawn: Plotly is missing from this file.";
        el.className = "loading failed";
      });
    }
    var t0 = performance.now();
    render(true);
    window.quba.plotsMs = performance.now();  // since navigation start, the plots drawn
    window.quba.plotsRenderMs = window.quba.plotsMs - t0;  // drawing the plots alone
    document.documentElement.setAttribute("data-ready", "1");
  }

  /** When Plotly runs. Running it blocks the page for a second or more (5 MB of script), so it waits until the
   * table is on screen (the browser reports its first contentful paint) and then either until the page has
   * been left alone for QUIET_MS (every click or key press restarts that wait: the table stays usable while
   * it is being used) or until a plot (scatter, heatmap) is on screen, whichever is first. A hidden tab, which paints
   * nothing, gets it 1.5 s after parsing. */
  var QUIET_MS = 800;

  function schedulePlotly() {
    var started = false, painted = false, parsed = document.readyState !== "loading", timer = null;
    var events = ["pointerdown", "keydown"];
    var go = function () {
      if (started) return;
      started = true;
      clearTimeout(timer);
      events.forEach(function (ev) { document.removeEventListener(ev, wait, true); });
      if (seen) seen.disconnect();
      setTimeout(loadPlotly, 0);
    };
    var wait = function () {
      clearTimeout(timer);
      if (painted && parsed) timer = setTimeout(go, QUIET_MS);
    };
    events.forEach(function (ev) { document.addEventListener(ev, wait, true); });
    var seen = null;
    var ready = function () {
      if (!(painted && parsed) || started) return;
      wait();
      if (window.IntersectionObserver) {
        seen = new IntersectionObserver(function (es) { if (es.some(function (e) { return e.isIntersecting; })) go(); },
          { rootMargin: "0px" });
        Array.prototype.forEach.call(document.querySelectorAll(".plot:not(.radar)"), function (el) { seen.observe(el); });
      }
    };
    try {
      new PerformanceObserver(function (list) {
        if (list.getEntries().some(function (e) { return e.name === "first-contentful-paint"; })) { painted = true; ready(); }
      }).observe({ type: "paint", buffered: true });
    } catch (e) { painted = true; }
    var afterParse = function () { parsed = true; ready(); setTimeout(function () { if (!painted) go(); }, 1500); };
    if (!parsed) document.addEventListener("DOMContentLoaded", afterParse);
    else afterParse();
  }

  function start() {
    var t0 = performance.now();
    $("subtitle").textContent = "quba " + DATA.version + ", generated " + DATA.generated + " from " + DATA.sources.map(function (s) {
      return s.split("/").pop();
    }).join(", ") + ". Offline: everything is in this file.";
    $("footer").innerHTML = "QUBA = \u03a3<sub>d</sub> w<sub>d</sub> s<sub>d</sub> (x<sub>d</sub> \u2212 \u03bc<sub>d</sub>)/\u03c3<sub>d</sub> / \u03a3<sub>d</sub> w<sub>d</sub> " +
      "(Hesse et al., Beyond Accuracy, Sec. 4); s<sub>d</sub> = +1 where higher is better. The same numbers as <code>quba rank</code>. " +
      "The view is in the address: copy it to share; Back undoes a change.";
    // The reproduction section only where the records beside some leaderboard given have published rows.
    if (!Object.keys(DATA.reproduction || {}).length) $("repro-section").remove();
    $("jump").innerHTML = Array.prototype.map.call(document.querySelectorAll("main > section[data-nav]"), function (s) {
      return '<a href="#' + s.id + '" data-jump="' + s.id + '">' + esc(s.getAttribute("data-nav")) + "</a>";
    }).join("");
    // A phone opens on the ranking: the controls fold into one line above it.
    if (window.matchMedia && window.matchMedia("(max-width: 900px)").matches) $("controls").open = false;
    bindControls();
    loadFromHash(true);
    // First render: every row of the table, ranked, with the controls (before Plotly is run).
    window.quba.renderMs = performance.now();  // since navigation start
    window.quba.firstViewMs = window.quba.renderMs - t0;  // the first render alone
    document.documentElement.setAttribute("data-render-ms", String(Math.round(window.quba.renderMs)));
    schedulePlotly();
  }

  start();
})();
