/* Haina dashboard: copy buttons, workspace switcher, charts. No inline scripts (see the CSP). */
(function () {
  "use strict";

  function copyText(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var label = button.textContent;
    function done() {
      button.textContent = button.getAttribute("data-copied") || label;
      setTimeout(function () { button.textContent = label; }, 2000);
    }
    function selectIt() {  // no clipboard access: select the text for Ctrl+C
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.textContent).then(done, selectIt);
    } else {
      selectIt();
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (button) copyText(button);
  });

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches("select[data-autosubmit]") && select.form) select.form.requestSubmit();
  });

  // <button data-csv-for="table-id" data-csv-name="x.csv">: the table as CSV, built here from
  // its cells (a cell's data-value, else its text), downloaded from a Blob.
  function csvCell(cell) {
    var value = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent;
    value = value.replace(/\s+/g, " ").trim();
    return /[",\n\r]/.test(value) ? '"' + value.replace(/"/g, '""') + '"' : value;
  }
  function downloadCsv(button) {
    var table = document.getElementById(button.getAttribute("data-csv-for"));
    if (!table) return;
    var lines = Array.prototype.map.call(table.querySelectorAll("tr"), function (row) {
      return Array.prototype.map.call(row.querySelectorAll("th, td"), csvCell).join(",");
    });
    // The BOM lets spreadsheet programs read the UTF-8 (Chinese) text correctly.
    var blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = button.getAttribute("data-csv-name") || table.id + ".csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-csv-for]");
    if (button) downloadCsv(button);
  });

  // JSON cannot carry functions: "formatter": "haina:percent" (or seconds, number) names one.
  var lang = document.documentElement.lang || "en";
  var FORMATTERS = {
    number: function (v) { return v == null ? "–" : Number(v).toLocaleString(lang); },
    percent: function (v) {
      return v == null ? "–" : (Number(v) * 100).toLocaleString(lang, { maximumFractionDigits: 1 }) + "%";
    },
    seconds: function (v) { return v == null ? "–" : Math.round(Number(v)) + (lang === "en" ? " s" : " 秒"); }
  };
  function withFormatters(node) {
    if (Array.isArray(node)) return node.map(withFormatters);
    if (!node || typeof node !== "object") return node;
    Object.keys(node).forEach(function (key) {
      var value = node[key];
      if (typeof value === "string" && value.indexOf("haina:") === 0 && FORMATTERS[value.slice(6)]) {
        var format = FORMATTERS[value.slice(6)];
        node[key] = valueOf(format);
      } else {
        node[key] = withFormatters(value);
      }
    });
    return node;
  }
  function valueOf(format) {  // axis labels and tooltips get the value, series labels an object
    return function (v) { return format(v && typeof v === "object" ? v.value : v); };
  }

  // <div data-echarts='{"series": ...}'>: a chart from a JSON option, also in htmx swaps.
  var charts = [];
  function drawCharts(root) {
    if (!window.echarts || !root.querySelectorAll) return;
    var found = Array.prototype.slice.call(root.querySelectorAll("[data-echarts]"));
    if (root.matches && root.matches("[data-echarts]")) found.unshift(root);
    found.forEach(function (el) {
      if (window.echarts.getInstanceByDom(el)) return;
      var chart = window.echarts.init(el);
      chart.setOption(withFormatters(JSON.parse(el.getAttribute("data-echarts"))));
      charts.push(chart);
    });
  }
  window.addEventListener("resize", function () {
    charts = charts.filter(function (chart) {
      if (chart.isDisposed() || !document.body.contains(chart.getDom())) {
        if (!chart.isDisposed()) chart.dispose();
        return false;
      }
      chart.resize();
      return true;
    });
  });

  if (window.htmx) {
    window.htmx.onLoad(drawCharts);
  } else {
    document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  }
})();
