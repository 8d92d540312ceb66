// The analytics dashboards' charts, drawn with plotly.js (served by the console from the
// installed plotly package) from the page's JSON data block. A file, never inline, for the CSP.
(function () {
  "use strict";

  var block = document.getElementById("analytics-data");
  if (!block || typeof window.Plotly === "undefined") {
    return;
  }
  var data = JSON.parse(block.textContent || "{}");
  var config = { displaylogo: false, responsive: true };
  var layout = function (extra) {
    var base = {
      margin: { l: 50, r: 20, t: 10, b: 40 },
      height: 320,
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      legend: { orientation: "h" },
    };
    return Object.assign(base, extra || {});
  };
  function draw(id, traces, extra) {
    var node = document.getElementById(id);
    if (node) {
      window.Plotly.newPlot(node, traces, layout(extra), config).then(function () {
        node.setAttribute("data-drawn", "true");
      });
    }
  }

  if (data.series) {
    var x = data.series.map(function (p) { return p.start; });
    draw("chart-series", [
      { x: x, y: data.series.map(function (p) { return p.visitors; }), name: "Visitors", type: "scatter" },
      { x: x, y: data.series.map(function (p) { return p.orders; }), name: "Orders", type: "bar" },
      { x: x, y: data.series.map(function (p) { return p.revenue; }), name: "Revenue", type: "scatter", yaxis: "y2" },
    ], { yaxis2: { overlaying: "y", side: "right", showgrid: false } });
  }
  if (data.funnel) {
    draw("chart-funnel", [{
      type: "funnel",
      y: data.funnel.steps.map(function (s) { return s.name; }),
      x: data.funnel.steps.map(function (s) { return s.people; }),
      textinfo: "value+percent initial",
    }], { margin: { l: 140, r: 20, t: 10, b: 20 } });
  }
  if (data.paths && data.paths.edges && data.paths.edges.length) {
    // A Sankey diagram: one node per (step, event), links the people who moved between them.
    var nodes = [], index = {};
    var before = data.paths.direction === "before";
    var node = function (step, name) {
      var key = step + "\u0000" + name;
      if (!(key in index)) { index[key] = nodes.length; nodes.push((before ? "-" : "+") + step + " " + name); }
      return index[key];
    };
    var links = { source: [], target: [], value: [] };
    data.paths.edges.forEach(function (e) {
      // after: step k-1 → step k; before: the k-th event before → the (k-1)-th (towards the event).
      var from = before ? node(e.step, e.source) : node(e.step - 1, e.source);
      var to = before ? node(e.step - 1, e.target) : node(e.step, e.target);
      links.source.push(from); links.target.push(to); links.value.push(e.people);
    });
    draw("chart-paths", [{ type: "sankey", orientation: "h", node: { label: nodes, pad: 12 }, link: links }], { height: 360 });
  }
  if (data.lifecycle && data.lifecycle.length) {
    var starts = data.lifecycle.map(function (p) { return p.start; });
    var status = function (name, sign, label) {
      return { x: starts, y: data.lifecycle.map(function (p) { return p[name] === null ? null : sign * p[name]; }), name: label, type: "bar" };
    };
    draw("chart-lifecycle", [
      status("new", 1, "New"),
      status("returning", 1, "Returning"),
      status("resurrecting", 1, "Resurrecting"),
      status("dormant", -1, "Dormant"),
    ], { barmode: "relative", height: 300 });
  }
  if (data.cohorts) {
    var shown = data.cohorts.filter(function (c) { return !c.suppressed; });
    var width = shown.reduce(function (m, c) { return Math.max(m, c.retention.length); }, 0);
    var periods = [];
    for (var k = 0; k < width; k += 1) { periods.push("+" + k); }
    draw("chart-cohort-revenue", shown.map(function (c) {
      return { x: periods.slice(0, c.cumulative_revenue_per_customer.length), y: c.cumulative_revenue_per_customer, name: c.cohort, type: "scatter" };
    }), { height: 260, yaxis: { title: { text: "revenue per customer" } } });
  }
  if (data.clv && data.clv.calibration && data.clv.calibration.length) {
    var bins = data.clv.calibration;
    draw("chart-clv", [
      { x: bins.map(function (b) { return b.frequency; }), y: bins.map(function (b) { return b.actual; }), name: "Actual", type: "bar" },
      { x: bins.map(function (b) { return b.frequency; }), y: bins.map(function (b) { return b.predicted; }), name: "Predicted (BG/NBD)", type: "scatter" },
    ], { xaxis: { title: { text: "repeat purchases in calibration" } }, yaxis: { title: { text: "hold-out purchases" } } });
  }
  if (data.heatmap && data.heatmap.density) {
    // The page as an outline (its width and height as 0-100 %), each clicked cell a square
    // coloured by its clicks. Markers rather than a heatmap trace: plotly's heatmap image sets
    // a style attribute, which the console's Content-Security-Policy refuses.
    var cx = [], cy = [], cz = [];
    data.heatmap.density.forEach(function (row, r) {
      row.forEach(function (v, c) {
        if (v) { cx.push(c * 2.5 + 1.25); cy.push(r * 2.5 + 1.25); cz.push(v); }
      });
    });
    draw("chart-heatmap", [{
      type: "scatter",
      mode: "markers",
      x: cx,
      y: cy,
      marker: { symbol: "square", size: 9, color: cz, colorscale: "YlOrRd", cmin: 0 },
      hovertemplate: "x %{x:.0f} %, y %{y:.0f} %: %{marker.color} clicks<extra></extra>",
    }], {
      height: 420,
      xaxis: { range: [0, 100], title: { text: "% of page width" } },
      yaxis: { range: [100, 0], title: { text: "% of page height" } },
      shapes: [{ type: "rect", x0: 0, x1: 100, y0: 0, y1: 100, line: { color: "#999" } }],
    });
  }
  if (data.heatmap && data.heatmap.scroll && data.heatmap.scroll.reached) {
    var scroll = data.heatmap.scroll;
    draw("chart-scroll", [{
      type: "bar",
      orientation: "h",
      y: scroll.depths.map(function (d) { return d + " %"; }),
      x: scroll.reached,
      hovertemplate: "%{x} people saw %{y} of the page or more<extra></extra>",
    }], { height: 300, yaxis: { autorange: "reversed", title: { text: "depth" } }, xaxis: { title: { text: "people" } } });
  }
  if (data.experiment && data.experiment.goal) {
    var rows = data.experiment.goal.variants.filter(function (v) { return v.comparison; });
    draw("chart-experiment", [{
      type: "scatter",
      mode: "markers",
      y: rows.map(function (v) { return v.variant; }),
      x: rows.map(function (v) { return v.comparison.difference; }),
      error_x: {
        type: "data",
        symmetric: false,
        array: rows.map(function (v) { return v.comparison.ci_high - v.comparison.difference; }),
        arrayminus: rows.map(function (v) { return v.comparison.difference - v.comparison.ci_low; }),
      },
      name: "Difference vs control (95 % CI)",
    }], { height: 200, xaxis: { zeroline: true } });
  }
})();
