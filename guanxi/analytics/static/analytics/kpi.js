// The KPI page's daily sales chart (ECharts); the same numbers are in the table beside it.
document.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("kpi-chart");
  var source = document.getElementById("kpi-chart-data");
  if (!el || !source || !window.echarts) { return; }
  var data = JSON.parse(source.textContent);
  var chart = echarts.init(el, null, { renderer: "svg" });
  chart.setOption({
    color: ["#c2410c", "#2563eb"],
    tooltip: { trigger: "axis" },
    legend: { bottom: 0, data: [el.dataset.sales || "Sales", el.dataset.orders || "Orders"] },
    grid: { left: 8, right: 8, top: 16, bottom: 32, outerBoundsMode: "same", outerBoundsContain: "axisLabel" },
    xAxis: { type: "category", data: data.dates },
    yAxis: [{ type: "value" }, { type: "value", minInterval: 1, splitLine: { show: false } }],
    series: [
      { name: el.dataset.sales || "Sales", type: "line", smooth: false, areaStyle: { opacity: 0.08 },
        data: data.sales.map(Number) },
      { name: el.dataset.orders || "Orders", type: "bar", yAxisIndex: 1, barMaxWidth: 14,
        itemStyle: { opacity: 0.5 }, data: data.orders },
    ],
  });
  window.addEventListener("resize", function () { chart.resize(); });
});
