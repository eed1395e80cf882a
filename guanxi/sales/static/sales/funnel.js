// The funnel chart (ECharts); the same numbers are in the table below it.
document.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("funnel-chart");
  var source = document.getElementById("funnel-data");
  if (!el || !source || !window.echarts) { return; }
  var data = JSON.parse(source.textContent);
  var chart = echarts.init(el, null, { renderer: "svg" });
  var max = data.reduce(function (m, d) { return Math.max(m, d.n); }, 0) || 1;
  chart.setOption({
    animation: false,
    color: ["#c2410c", "#ea580c", "#f97316", "#fb923c", "#15803d", "#6b7280"],
    tooltip: { trigger: "item", formatter: "{b}: {c}" },
    series: [{
      type: "funnel", left: "5%", right: "5%", top: 8, bottom: 8, min: 0, max: max,
      sort: "none", gap: 2, minSize: "8%",
      label: { show: true, position: "inside", formatter: "{b}  {c}" },
      data: data.map(function (d) { return { name: d.label, value: d.n }; }),
    }],
  });
  window.addEventListener("resize", function () { chart.resize(); });
});
