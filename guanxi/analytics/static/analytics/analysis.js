// Charts of the customer analyses (RFM, groups, churn, cohorts), drawn with ECharts.
// <div data-analysis-chart="bars|line|heatmap" data-source="json-script-id">; the numbers
// are always in a table beside the chart.
(function () {
  var COLORS = ["#c2410c", "#2563eb", "#15803d", "#7c3aed", "#b45309", "#0891b2"];

  function bars(el, d, kind) {
    var twoAxes = d.series.some(function (s) { return s.axis === 1; });
    var narrow = el.clientWidth < 480;
    var yAxis = [{ type: "value" }];
    if (twoAxes) { yAxis.push({ type: "value", splitLine: { show: false } }); }
    return {
      color: COLORS,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 8, right: 8, top: 32, bottom: 8, outerBoundsMode: "same", outerBoundsContain: "axisLabel" },
      xAxis: { type: "category", data: d.labels,
               axisLabel: { interval: 0, rotate: narrow || d.labels.length > 8 ? 40 : 0 } },
      yAxis: yAxis,
      series: d.series.map(function (s) {
        return { name: s.name, type: kind, data: s.data, yAxisIndex: s.axis || 0,
                 barMaxWidth: 36, smooth: false, symbolSize: 6 };  // a smoothed curve overshoots the data
      }),
    };
  }

  function heatmap(el, d) {
    var max = d.max || Math.max.apply(null, d.data.map(function (c) { return c[2]; }).concat([1]));
    return {
      tooltip: { position: "top" },
      grid: { left: 8, right: 8, top: 8, bottom: 56, outerBoundsMode: "same", outerBoundsContain: "axisLabel" },
      xAxis: { type: "category", data: d.x, splitArea: { show: true } },
      yAxis: { type: "category", data: d.y, splitArea: { show: true } },
      visualMap: { min: 0, max: max, calculable: true, orient: "horizontal", left: "center",
                   bottom: 0, inRange: { color: ["#fff7ed", "#fdba74", "#c2410c"] } },
      // Whole numbers in the cells (the exact figures are in the table): "33.33" does
      // not fit a phone-width cell and runs into its neighbours.
      series: [{ type: "heatmap", data: d.data,
                 label: { show: true, fontSize: 11, formatter: function (p) {
                   var v = p.value[2];
                   return v === null || v === undefined || v === "" ? "" : String(Math.round(v));
                 } } }],
    };
  }

  function draw() {
    if (!window.echarts) { return; }
    document.querySelectorAll("[data-analysis-chart]").forEach(function (el) {
      var source = document.getElementById(el.dataset.source);
      if (!source) { return; }
      var d = JSON.parse(source.textContent);
      var kind = el.dataset.analysisChart;
      var option = kind === "heatmap" ? heatmap(el, d) : bars(el, d, kind === "line" ? "line" : "bar");
      var chart = echarts.init(el, null, { renderer: "svg" });
      chart.setOption(option);
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
})();
