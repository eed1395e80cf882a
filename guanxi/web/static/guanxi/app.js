// Small behaviour shared by every page; htmx and Alpine do the rest.
document.addEventListener("htmx:configRequest", function () {
  var box = document.getElementById("htmx-error");
  if (box) { box.hidden = true; }
});

// Forms answered with 422 carry their field errors: swap them in like a 200.
document.addEventListener("DOMContentLoaded", function () {
  if (!window.htmx) { return; }
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "422", swap: true },
    { code: "[45]..", swap: false, error: true },
  ];
});

document.addEventListener("htmx:responseError", function (event) {
  var box = document.getElementById("htmx-error");
  if (!box) { return; }
  var status = event.detail.xhr.status;
  box.textContent = (box.dataset.prefix || "Error") + " " + status;
  box.hidden = false;
});

// Charts: <div data-chart="bar|pie" data-source="json-script-id"> drawn with ECharts
// when it is loaded on the page; the numbers stay in a table beside it.
function drawCharts() {
  if (!window.echarts) { return; }
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var source = document.getElementById(el.dataset.source);
    if (!source) { return; }
    var data = JSON.parse(source.textContent);
    var colors = ["#c2410c", "#2563eb", "#15803d", "#7c3aed", "#b45309", "#0891b2", "#be123c", "#6b7280"];
    var chart = echarts.init(el, null, { renderer: "svg" });
    var option;
    if (el.dataset.chart === "pie") {
      option = {
        color: colors,
        tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
        legend: { bottom: 0, icon: "circle", itemWidth: 10, itemHeight: 10, textStyle: { fontSize: 12 } },
        series: [{
          type: "pie", radius: ["42%", "68%"], center: ["50%", "44%"],
          itemStyle: { borderColor: "#fff", borderWidth: 2 },
          label: { show: false },
          data: data.map(function (d) {
            return { name: d.label, value: d.n, itemStyle: d.color ? { color: d.color } : undefined };
          }),
        }],
      };
    } else {
      option = {
        color: colors,
        tooltip: { trigger: "axis" },
        grid: { left: 8, right: 8, top: 16, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: data.map(function (d) { return d.label; }),
                 axisLabel: { interval: 0, rotate: el.clientWidth < 420 ? 35 : 0 } },
        yAxis: { type: "value", minInterval: 1 },
        series: [{ type: "bar", barMaxWidth: 42, colorBy: "data",
                   data: data.map(function (d) {
                     return { value: d.n, itemStyle: d.color ? { color: d.color } : undefined };
                   }),
                   label: { show: true, position: "top" } }],
      };
    }
    chart.setOption(option);
    window.addEventListener("resize", function () { chart.resize(); });
  });
}
document.addEventListener("DOMContentLoaded", drawCharts);
